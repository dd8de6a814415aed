"""Cross-validation trials on Ray Tune: one trial per (model, fold), retried on failure, resumable."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from ray import tune

from leukmodel.config import Config
from leukmodel.data.cohort import Cohort
from leukmodel.distributed.cluster import assigned_threads, trial_resources
from leukmodel.training import TrialResult, run_trial
from leukmodel.training.cv import TrialSpec
from leukmodel.training.trainer import FeatureBag

logger = logging.getLogger(__name__)

RESULTS_DIR = "results"
IGNORED_SECTIONS = ("name", "output_dir", "tracking", "ray", "explain")
IGNORED_FEATURES = ("cache_dir", "batch_size", "num_workers")


def cv_fingerprint(config: Config) -> str:
    """A hash of everything that decides the trials' results (not where outputs go or how work is spread)."""
    values = config.to_dict()
    for key in IGNORED_SECTIONS:
        values.pop(key, None)
    for key in IGNORED_FEATURES:
        values["features"].pop(key, None)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def experiment_path(config: Config) -> Path:
    """The Tune experiment folder of this cross-validation: the same config always gives the same folder."""
    storage = config.ray.storage_path or config.output_dir / "ray"
    return storage.resolve() / f"cv-{cv_fingerprint(config)}"


class RayTuneRunner:
    """A :data:`~leukmodel.training.cv.TrialRunner` that runs the trials as Ray Tune trials.

    Trials call library code only (never Prefect). Each reports its epochs to Tune (and so to ``callbacks``, on
    the driver) and writes its :class:`~leukmodel.training.TrialResult` atomically to ``<experiment>/results``. A
    failed trial is retried ``ray.max_failures`` times. When the experiment folder exists, the cross-validation
    is resumed with ``Tuner.restore``; a trial whose result file exists returns it without training again, even
    when the interruption came before Tune recorded the trial as finished.

    Args:
        callbacks: Tune callbacks run on the driver, e.g. :class:`~leukmodel.distributed.MLflowTrialLogger`.
        verbose: Tune's console verbosity (0 silent, 1 status table).
    """

    def __init__(self, callbacks: Sequence[tune.Callback] = (), verbose: int = 1) -> None:
        self.callbacks = list(callbacks)
        self.verbose = verbose

    def __call__(
        self, specs: Sequence[TrialSpec], cohort: Cohort, bags: dict[str, FeatureBag], config: Config
    ) -> list[TrialResult]:
        path = experiment_path(config)
        results = path / RESULTS_DIR
        results.mkdir(parents=True, exist_ok=True)
        trainable = tune.with_resources(
            tune.with_parameters(_cv_trial, cohort=cohort, bags=bags, config=config, results=results),
            trial_resources(config),
        )
        if tune.Tuner.can_restore(path):
            logger.info("resuming the cross-validation in %s", path)
            tuner = tune.Tuner.restore(str(path), trainable, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={"trial": tune.grid_search([{"model": s.model_name, "fold": s.fold_index} for s in specs])},
                tune_config=tune.TuneConfig(max_concurrent_trials=config.ray.max_concurrent_trials, reuse_actors=True),
                run_config=tune.RunConfig(
                    name=path.name,
                    storage_path=str(path.parent),
                    failure_config=tune.FailureConfig(max_failures=config.ray.max_failures),
                    callbacks=self.callbacks,
                    verbose=self.verbose,
                ),
            )
        grid = tuner.fit()
        failed = [r for r in grid if r.error is not None]
        if failed:
            names = ", ".join(f"{r.config['trial']['model']} fold {r.config['trial']['fold']}" for r in failed)
            raise RuntimeError(f"{len(failed)} trial(s) failed after retries: {names}; see {path}") from failed[0].error
        return [_load(result_file(results, s.model_name, s.fold_index)) for s in specs]


def result_file(results: Path, model: str, fold: int) -> Path:
    return results / f"{model}-fold{fold}.pkl"


def _cv_trial(
    params: dict[str, Any], cohort: Cohort, bags: dict[str, FeatureBag], config: Config, results: Path
) -> None:
    torch.set_num_threads(assigned_threads())
    trial = params["trial"]
    done = result_file(results, trial["model"], trial["fold"])
    if done.is_file():
        _report(_load(done))
        return

    def report_epoch(epoch: int, record: dict[str, float]) -> None:
        tune.report({**record, "epoch": epoch})

    result = run_trial(trial["model"], trial["fold"], cohort, bags, config, on_epoch=report_epoch)
    partial = done.with_suffix(".partial")
    with open(partial, "wb") as handle:
        pickle.dump(result, handle)
    partial.replace(done)
    _report(result)


def _report(result: TrialResult) -> None:
    """The trial's last report: its summary metrics."""
    correct = (result.predictions["y_true"] == result.predictions["y_pred"]).mean()
    tune.report({"epoch": len(result.history), "best_epoch": result.best_epoch, "test_accuracy": float(correct)})


def _load(path: Path) -> TrialResult:
    """A trial result this cross-validation wrote (a pickle of our own making, in our own experiment folder)."""
    with open(path, "rb") as handle:
        return pickle.load(handle)
