"""Explanations of a few samples per class and the HTML report, logged to the cross-validation's run."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from leukmodel.app.cross_validation import CVRun
from leukmodel.app.report import explain_and_report
from leukmodel.app.samples import usable_samples
from leukmodel.config import Config
from leukmodel.data import Cohort
from leukmodel.tracking.artifacts import RunArtifacts
from leukmodel.tracking.layout import REPORT
from tasks.links import artifact_key, mlflow_ui_hint, report_url
from tasks.retry import transient


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def explain_run(cohort: Cohort, config: Config, cv: CVRun) -> Path:
    """Explain ``explain.samples_per_class`` samples of each class out of fold, write the report, log both.

    The UI gets a link a browser opens: the report served by the MLflow server when tracking is HTTP, else the
    report's path to copy and the command that serves the MLflow UI (a browser does not open file:// links from
    a web page).
    """
    artifacts = RunArtifacts(MlflowClient(cv.tracking_uri), cv.run_id)
    done = explain_and_report(
        artifacts, cv.cv_dir, config, lambda: usable_samples(cohort, config), cv.folder, cv.folder / REPORT
    )
    logger = get_run_logger()
    logger.info("explained %d samples: %s", len(done.explained), ", ".join(e.sample_id for e in done.explained))
    url = report_url(cv.tracking_uri, cv.run_id)
    text = (
        f"[HTML report]({url}) (served by the MLflow server)"
        if url
        else f"HTML report, open the file in a browser:\n\n```\n{done.report}\n```\n\nor in the MLflow UI ("
        f"{mlflow_ui_hint(cv.tracking_uri)}): run `{cv.run_id}`, artifact `{REPORT}`."
    )
    create_markdown_artifact(text, key=artifact_key(config, "report"), description=f"MLflow run {cv.run_id}")
    logger.info("report: %s", url or done.report)
    return done.report
