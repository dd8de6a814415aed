"""A cross-validation on Ray Tune recorded in MLflow, resumable after a kill, and the final models after it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient

from leukmodel.config import Config
from leukmodel.data.cohort import Cohort
from leukmodel.distributed.cluster import init_ray
from leukmodel.distributed.cv import RayTuneRunner, cv_fingerprint
from leukmodel.distributed.mlflow_callback import MLflowTrialLogger
from leukmodel.evaluation.figures import confusion_figure, roc_figure
from leukmodel.features import training_bags
from leukmodel.tracking.layout import FINAL_DIR
from leukmodel.tracking.results import log_cv_result
from leukmodel.tracking.runs import provenance_tags, start_or_resume_cv_run
from leukmodel.tracking.setup import tracking_uri
from leukmodel.training import CVResult, ModelBundle, run_cross_validation, train_final
from leukmodel.training.plan import LINEAR_REFERENCES, resolve_models
from leukmodel.training.trainer import FeatureBag

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVRun:
    """A cross-validation's MLflow parent run and its local folder.

    ``folder/result`` holds :meth:`CVResult.save`'s files, ``folder/final`` the final models; ``finished`` is True
    when the run had already finished before this call (nothing was recomputed).
    """

    run_id: str
    folder: Path
    tracking_uri: str
    finished: bool

    @property
    def cv_dir(self) -> Path:
        return self.folder / "result"


def run_folder(config: Config) -> Path:
    """The local folder of the cross-validation of ``config``; the same config always gives the same folder."""
    return config.output_dir.resolve() / f"cv-{cv_fingerprint(config)}"


def usable_samples(cohort: Cohort, config: Config) -> tuple[Cohort, dict[str, FeatureBag]]:
    """The cohort restricted to samples with tiles (images without foreground may leave a bag empty), and bags."""
    if not cohort.has_images:
        return cohort, {}
    bags = training_bags(cohort, config)
    if bags.skipped:
        logger.warning("left out, no tiles: %s", bags.skipped)
        cohort = cohort.subset([s.sample_id for s in cohort.samples if s.sample_id in bags])
    return cohort, dict(bags)


def tracked_cross_validation(
    cohort: Cohort, config: Config, backbone_tags: dict[str, str], verbose: int = 1
) -> tuple[CVRun, CVResult | None]:
    """Every (model, fold) as a Ray Tune trial, logged to MLflow (a parent run, a child run per trial).

    An interrupted cross-validation of the same config resumes: Tune restores the finished trials and the same
    parent run goes on. One whose parent run finished is not run again (the result is then ``None``).
    """
    uri = tracking_uri(config)
    folder = run_folder(config)
    run_id, finished = start_or_resume_cv_run(config, cohort, backbone_tags, folder)
    if finished:
        return CVRun(run_id, folder, uri, True), None
    cohort, bags = usable_samples(cohort, config)
    init_ray(config)
    client = MlflowClient(uri)
    callback = MLflowTrialLogger(
        uri, client.get_run(run_id).info.experiment_id, run_id, provenance_tags(cohort, backbone_tags, config)
    )
    run = CVRun(run_id, folder, uri, False)
    runner = RayTuneRunner([callback], verbose=verbose)
    result = run_cross_validation(cohort, bags, config, out_dir=run.cv_dir, trial_runner=runner)
    log_cv_result(client, run_id, result, run.cv_dir, cv_figures(result))
    return run, result


def cv_figures(result: CVResult) -> dict[str, Figure]:
    """ROC curves and the confusion matrix of every model, out of fold."""
    figures = {}
    for model in result.predictions["model"].unique():
        figures[f"roc_{model}"] = roc_figure(result.predictions, result.classes, model)
        figures[f"confusion_{model}"] = confusion_figure(result.predictions, result.classes, model)
    return figures


def train_final_models(cohort: Cohort, config: Config, run: CVRun) -> dict[str, ModelBundle]:
    """Each cross-validated deep model trained on the whole cohort, saved and logged under ``final/`` of the run
    (the linear references are cross-validated only: they are not served)."""
    cohort, bags = usable_samples(cohort, config)
    client = MlflowClient(run.tracking_uri)
    bundles = {}
    config = resolve_models(config, cohort)
    for model in [m for m in config.cv.models if m in LINEAR_REFERENCES]:
        bundle = train_final(model, cohort, bags, config)
        path = bundle.save(run.folder / FINAL_DIR / f"{model}.pt")
        client.log_artifact(run.run_id, str(path), FINAL_DIR)
        logger.info("final %s model: best epoch %d", model, bundle.best_epoch)
        bundles[model] = bundle
    return bundles
