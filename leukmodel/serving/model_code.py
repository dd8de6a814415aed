"""The models-from-code entry point that :func:`leukmodel.serving.log_model` logs: MLflow runs this file to get
the pyfunc instance, so the logged model holds no pickled code.
"""

import mlflow

from leukmodel.serving.pyfunc import LeukPyfunc

mlflow.models.set_model(LeukPyfunc())
