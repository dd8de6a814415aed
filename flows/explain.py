"""The explain step: explanations of a few samples per class out of fold and the HTML report."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.common import leukmodel_logs, resolve_config
from flows.cross_validate import cross_validate
from flows.ingest import ingest
from leukmodel.app.cross_validation import CVRun
from leukmodel.config import Config
from leukmodel.data import Cohort
from tasks.explain import explain_run


@flow(name="explain")
def explain(config: Config | str, cohort: Cohort | None = None, cv: CVRun | None = None) -> Path:
    """Explain the cross-validation of ``config`` (found or run by the cross_validate flow unless given) and log
    the explanations and the report to its MLflow run; run again, it explains and reports again."""
    config = resolve_config(config)
    with leukmodel_logs():
        cohort = cohort or ingest(config)
        cv = cv or cross_validate(config, cohort=cohort)
        return explain_run(cohort, config, cv)
