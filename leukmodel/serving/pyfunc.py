"""The MLflow pyfunc: a table of samples (image paths or base64 images + expression) in, predictions out.

The class is logged as code (MLflow "models from code", :mod:`leukmodel.serving.model_code`), not pickled, so
the model loads with ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``; its artifacts are plain tensors and JSON.
The serving environment needs leukmodel installed (``mlflow models serve --env-manager local``).
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

from leukmodel.errors import LeukInputError
from leukmodel.serving.inputs import samples_from_frame
from leukmodel.serving.predictor import Predictor


class LeukPyfunc(mlflow.pyfunc.PythonModel):
    """Predicts each row of the input table (columns ``sample_id``, ``images``, ``expression``; see
    :mod:`leukmodel.serving.inputs`) and returns one record per row (:meth:`Prediction.to_record
    <leukmodel.serving.prediction.Prediction.to_record>`).

    Params: ``impute_missing`` (fill absent or NaN genes with training means, reported per record) and
    ``top_tiles`` (how many tiles to list). ``model_config`` at load: ``device`` (default ``auto``) and
    ``warm_up`` (default true: one backbone batch at load, so a server's first request is as fast as the next;
    a one-shot prediction turns it off). Input errors are raised as MLflow ``INVALID_PARAMETER_VALUE`` (HTTP 400)
    with the named message.
    """

    predictor: Predictor

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        config = context.model_config or {}
        self.predictor = Predictor.from_artifacts(context.artifacts, config.get("device", "auto"))
        if config.get("warm_up", True):
            self.predictor.warm_up()

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        params = params or {}
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        top_tiles = int(params.get("top_tiles", self.predictor.spec.top_tiles))
        impute = bool(params.get("impute_missing", False))
        try:
            samples = samples_from_frame(frame)
            return [p.to_record(top_tiles) for p in self.predictor.predict_many(samples, impute_missing=impute)]
        except LeukInputError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc


def signature(top_tiles: int) -> ModelSignature:
    """Three optional columns of any JSON type (lists of strings, mappings or lists of numbers) and two params."""
    return ModelSignature(
        inputs=Schema(
            [
                ColSpec("string", "sample_id", required=False),
                ColSpec(AnyType(), "images", required=False),
                ColSpec(AnyType(), "expression", required=False),
            ]
        ),
        params=ParamSchema([ParamSpec("impute_missing", "boolean", False), ParamSpec("top_tiles", "long", top_tiles)]),
    )
