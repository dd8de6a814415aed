"""Where MLflow records: the tracking URI, the cohort's experiment and its artifact store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags
from mlflow.utils.git_utils import get_git_commit
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT

import leukmodel
from leukmodel.config import Config
from leukmodel.errors import LeukInputError

SQLITE = "sqlite:///"
PROBE_TIMEOUT_S = 5.0
"""How long the first contact with a tracking server may take before it is called unreachable."""

_REACHED: set[str] = set()


class TrackingServerError(LeukInputError):
    """A tracking server that does not answer."""


def check_reachable(uri: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """``uri``, once an ``http(s)`` tracking server there has answered (any HTTP answer) within ``timeout`` seconds.

    MLflow retries a refused connection with back-off for minutes before it says anything; this one request
    makes a server that is down or unreachable a named error at first contact. Other URIs pass unchecked, and a
    server is asked once per process.

    Raises:
        TrackingServerError: no answer (refused, unknown host, timeout).
    """
    if not uri.startswith(("http://", "https://")) or uri in _REACHED:
        return uri
    import requests

    try:
        requests.get(uri.rstrip("/") + "/health", timeout=timeout)
    except requests.RequestException as exc:
        reason = f"no answer within {timeout:g} s" if isinstance(exc, requests.Timeout) else "cannot connect"
        raise TrackingServerError(
            f"the MLflow tracking server does not answer ({reason})",
            file=uri,
            expected="a running server at this address (mlflow server --host HOST --port PORT), or a sqlite:/// URI",
        ) from None
    _REACHED.add(uri)
    return uri


def tracking_uri(config: Config) -> str:
    """``tracking.mlflow_uri``, else ``MLFLOW_TRACKING_URI``, else a SQLite file in the output folder.

    Relative SQLite and file paths are made absolute, because Ray Tune trials run in another working directory.
    A server URI is checked to answer (:func:`check_reachable`).
    """
    uri = config.tracking.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri and uri.startswith(("http://", "https://")):
        return check_reachable(uri)
    if not uri:
        return f"{SQLITE}{(config.output_dir / 'mlflow.db').resolve()}"
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        return f"{SQLITE}{Path(uri[len(SQLITE) :]).resolve()}"
    if "://" not in uri:
        return Path(uri).resolve().as_uri()
    return uri


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``mlflow.start_run``, ``register_model``, ``pyfunc.load_model``) on ``uri`` for the block.

    ``mlflow.set_tracking_uri`` also sets ``MLFLOW_TRACKING_URI`` for the whole process, which
    :func:`tracking_uri` reads as the user's choice: left set, a later run of another config in the same
    process would log to this one's database. Afterwards the variable is as it was (unset again if it was).
    """
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved)  # None unsets the variable and MLflow's own setting


@contextmanager
def resumed_run(uri: str, run_id: str) -> Iterator[None]:
    """The run ``run_id`` of ``uri`` as MLflow's active run for the block (``mlflow.pyfunc.log_model`` logs to it),
    left RUNNING afterwards: ``with mlflow.start_run(run_id=...)`` would mark it FINISHED on leaving the block.
    """
    with using_tracking_uri(uri):
        mlflow.start_run(run_id=run_id)
        try:
            yield
        finally:
            mlflow.end_run(RunStatus.to_string(RunStatus.RUNNING))


def context_tags(tags: dict[str, str]) -> dict[str, str]:
    """``tags`` with MLflow's context tags, which ``MlflowClient.create_run`` does not add by itself (the fluent
    ``mlflow.start_run`` does): ``mlflow.user``, ``mlflow.source.name`` / ``type`` and ``mlflow.source.git.commit``.

    MLflow finds the commit from the main script, which is no leukmodel file when a Prefect worker, Ray or pytest
    runs the code; the commit of the leukmodel source tree is then recorded (none for an installed wheel).
    """
    resolved = resolve_tags(tags)
    if MLFLOW_GIT_COMMIT not in resolved:
        commit = get_git_commit(Path(leukmodel.__file__).parent)
        if commit:
            resolved[MLFLOW_GIT_COMMIT] = commit
    return resolved


def experiment_name(config: Config) -> str:
    """One experiment per cohort."""
    return config.tracking.experiment or config.name


def registered_model_name(config: Config) -> str:
    return config.tracking.registered_model or f"leukmodel-{config.name}"


def ensure_experiment(config: Config) -> str:
    """The id of the cohort's experiment, created on first use.

    With a local database the artifacts go to ``<output_dir>/mlartifacts`` (absolute), not to the working
    directory of whichever process logs first.
    """
    uri = tracking_uri(config)
    if uri.startswith(SQLITE):
        Path(uri[len(SQLITE) :]).parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(uri)
    name = experiment_name(config)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if uri.startswith(SQLITE):
        location = (config.output_dir.resolve() / "mlartifacts").as_uri()
    return client.create_experiment(name, artifact_location=location)
