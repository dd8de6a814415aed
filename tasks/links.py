"""Where a person opens what a flow run made: MLflow UI links and artifact keys of one config's history."""

from __future__ import annotations

import re

from leukmodel.config import Config
from leukmodel.tracking.layout import REPORT


def artifact_key(config: Config, kind: str) -> str:
    """A Prefect artifact key of this config's own history (``<config name>-<kind>``; Prefect allows lowercase
    letters, digits and dashes), so two deployments of different cohorts do not write into one history."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{config.name}-{kind}".lower()).strip("-")


def is_http(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://"))


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The run's page in the MLflow UI of an HTTP tracking server (``None`` for a database URI)."""
    if not is_http(tracking_uri):
        return None
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(tracking_uri: str, name: str, version: str) -> str | None:
    """The version's page in the MLflow UI of an HTTP tracking server (``None`` for a database URI)."""
    if not is_http(tracking_uri):
        return None
    return f"{tracking_uri.rstrip('/')}/#/models/{name}/versions/{version}"


def report_url(tracking_uri: str, run_id: str) -> str | None:
    """The HTML report as the MLflow server serves the run's artifact (``None`` for a database URI)."""
    if not is_http(tracking_uri):
        return None
    return f"{tracking_uri.rstrip('/')}/get-artifact?path={REPORT}&run_uuid={run_id}"


def mlflow_ui_hint(tracking_uri: str) -> str:
    """How to look at runs recorded in a database: the command that serves the MLflow UI for it."""
    return f"`mlflow ui --backend-store-uri {tracking_uri}` and open http://127.0.0.1:5000"
