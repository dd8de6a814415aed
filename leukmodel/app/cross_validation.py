"""A cross-validation on Ray Tune recorded in MLflow, resumable after a kill."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient

from leukmodel.app.samples import usable_samples
from leukmodel.config import Config
from leukmodel.data.cohort import Cohort
from leukmodel.distributed.cluster import init_ray
from leukmodel.distributed.cv import RayTuneRunner, cv_fingerprint
from leukmodel.distributed.mlflow_callback import MLflowTrialLogger
from leukmodel.evaluation.figures import confusion_figure, roc_figure
from leukmodel.tracking.results import log_cv_result
from leukmodel.tracking.runs import provenance_tags, start_or_resume_cv_run
from leukmodel.tracking.setup import tracking_uri
from leukmodel.training import CVResult, run_cross_validation


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
