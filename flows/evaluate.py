"""External evaluation: a registered model on a held-out, labelled cohort (e.g. the C-NMC preliminary test set)."""

from __future__ import annotations

from prefect import flow

from flows.common import resolve_config
from leukmodel.app.evaluate import ExternalRun
from leukmodel.config import Config
from tasks.evaluate import evaluate_model


@flow(name="evaluate")
def evaluate(config: Config | str, model_uri: str) -> ExternalRun:
    """Evaluate ``model_uri`` (``models:/NAME@ALIAS``) on the cohort ``config`` describes (a Config or a YAML path)."""
    return evaluate_model(resolve_config(config), model_uri)
