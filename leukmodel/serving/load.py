"""Loading a served model by MLflow URI (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/...``) or folder."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from leukmodel.errors import LeukInputError
from leukmodel.serving.predictor import Predictor
from leukmodel.serving.pyfunc import LeukPyfunc
from leukmodel.tracking.setup import check_reachable, using_tracking_uri

SQLITE = "sqlite:///"
EXPECTED = (
    "models:/NAME@ALIAS or models:/NAME/VERSION registered in the tracking server, runs:/RUN_ID/model, "
    "or a local MLflow model folder (with an MLmodel file)"
)


class ModelLoadError(LeukInputError):
    """A model URI or folder that does not lead to a leukmodel model."""


def load_predictor(
    model: str, *, tracking_uri: str | None = None, device: str = "auto", warm_up: bool = False
) -> Predictor:
    """The :class:`Predictor` of a logged leukmodel pyfunc, on ``device``.

    ``tracking_uri`` (else ``MLFLOW_TRACKING_URI``, else MLflow's default, ``sqlite:///mlflow.db`` in the
    working directory) is used to resolve ``models:/`` and ``runs:/`` URIs; a SQLite database that does not
    exist is an error rather than a new empty one. ``warm_up`` runs one backbone batch at load, as a server
    does; a one-shot prediction is faster without it.

    Raises:
        ModelLoadError: the URI names no model in that tracking server, the folder holds no MLflow model, or the
            model is not a leukmodel pyfunc. Messages name the URI and the tracking URI.
    """
    is_uri = "://" in model or model.startswith(("models:/", "runs:/"))
    if not is_uri and not (Path(model).expanduser() / "MLmodel").is_file():
        raise ModelLoadError("no MLflow model here (no MLmodel file)", file=model, expected=EXPECTED)
    uri = tracking_uri or mlflow.get_tracking_uri()
    if is_uri:
        check_reachable(uri)
    where = f" in tracking URI {uri}" if is_uri else ""
    if is_uri and uri.startswith(SQLITE) and not Path(uri[len(SQLITE) :]).is_file():
        raise ModelLoadError(
            f"the tracking database {uri} does not exist",
            file=model,
            expected="--tracking-uri (or MLFLOW_TRACKING_URI) naming the database the model was registered in; "
            "leukmodel demo prints it",
        )
    try:
        with using_tracking_uri(uri):
            loaded = mlflow.pyfunc.load_model(
                str(Path(model).expanduser()) if not is_uri else model,
                model_config={"device": device, "warm_up": warm_up},
            )
    except (MlflowException, OSError) as exc:
        message = exc.message if isinstance(exc, MlflowException) else str(exc)
        raise ModelLoadError(
            f"cannot load the model{where}: {message.splitlines()[0]}", file=model, expected=EXPECTED
        ) from None
    python_model = loaded.unwrap_python_model()
    if not isinstance(python_model, LeukPyfunc):
        raise ModelLoadError(
            f"the model is a {type(python_model).__name__}, not a leukmodel pyfunc", file=model, expected=EXPECTED
        )
    return python_model.predictor
