"""Explanations of a few samples per class and the HTML report, logged to the cross-validation's run."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient
from prefect import task
from prefect.artifacts import create_link_artifact
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.data import Cohort
from leukmodel.distributed.tracked import CVRun, usable_samples
from leukmodel.explain import explain_cv
from leukmodel.report import build_report
from leukmodel.tracking.layout import EXPLANATIONS_DIR, REPORT, tag


@task
def explain_run(cohort: Cohort, config: Config, cv: CVRun) -> Path:
    """Explain ``explain.samples_per_class`` samples of each class out of fold, write the report, log both."""
    logger = get_run_logger()
    client = MlflowClient(cv.tracking_uri)
    tags = client.get_run(cv.run_id).data.tags
    cohort, bags = usable_samples(cohort, config)
    explanations = cv.folder / EXPLANATIONS_DIR
    done = explain_cv(cv.cv_dir, cohort, bags, config, explanations, backbone_sha256=tags.get(tag("backbone_sha256")))
    logger.info("explained %d samples: %s", len(done), ", ".join(e.sample_id for e in done))
    client.log_artifacts(cv.run_id, str(explanations), EXPLANATIONS_DIR)
    report = build_report(cv.cv_dir, explanations, cv.folder / REPORT, tags=tags, run_id=cv.run_id)
    client.log_artifact(cv.run_id, str(report), str(Path(REPORT).parent))
    create_link_artifact(report.as_uri(), link_text="HTML report", key="cv-report")
    logger.info("report: %s", report)
    return report
