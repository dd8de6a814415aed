"""Inference and serving: the MLflow pyfunc (images + expression in, probabilities + attention out) and predict."""

from leukmodel.serving.expression import AlignedExpression, align_expression, read_expression_csv, training_means
from leukmodel.serving.inputs import ImageInput, SampleInput, read_images, samples_from_frame
from leukmodel.serving.load import ModelLoadError, load_predictor
from leukmodel.serving.log import log_model
from leukmodel.serving.prediction import EncodedBag, Prediction
from leukmodel.serving.predictor import Predictor
from leukmodel.serving.pyfunc import LeukPyfunc
from leukmodel.serving.spec import ServingSpec

__all__ = [
    "AlignedExpression",
    "EncodedBag",
    "ImageInput",
    "LeukPyfunc",
    "ModelLoadError",
    "Prediction",
    "Predictor",
    "SampleInput",
    "ServingSpec",
    "align_expression",
    "load_predictor",
    "log_model",
    "read_expression_csv",
    "read_images",
    "samples_from_frame",
    "training_means",
]
