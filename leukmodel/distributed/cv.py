"""Cross-validation trials on Ray Tune: one trial per (model, fold), retried on failure, resumable."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import tempfile
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

RESULT_FILE = "trial_result.pkl"
IGNORED_SECTIONS = ("name", "output_dir", "tracking", "ray", "explain")
IGNORED_FEATURES = ("cache_dir", "batch_size", "num_workers")


def cv_fingerprint(config: Config) -> str:
    """A hash of everything that decides the trials' results (not where outputs go or how work is spread)."""
    values = config.to_dict()
    for key in IGNORED_SECTIONS:
        values.pop(key, None)
    for key in IGNORED_FEATURES:
        values["features"].pop(key, None)
    values["cv"].pop("reference", None)  # which model McNemar compares against: filled in from the cohort later
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def experiment_path(config: Config) -> str:
    """The Tune experiment of this cross-validation, a URI or an absolute path: ``<ray.storage_path>/cv-<fingerprint>``
    (default storage ``<output_dir>/ray``). The same config always gives the same experiment."""
    storage = config.ray.storage_path or str((config.output_dir / "ray").resolve())
    return f"{storage.rstrip('/')}/cv-{cv_fingerprint(config)}"


class RayTuneRunner:
    """A :data:`~leukmodel.training.cv.TrialRunner` that runs the trials as Ray Tune trials.

    Trials call library code only (never Prefect). Each reports its epochs to Tune (and so to ``callbacks``, on
    the driver) and its :class:`~leukmodel.training.TrialResult` as a Tune checkpoint, which Tune keeps in
    ``ray.storage_path`` (a shared folder or a URI such as ``s3://`` or ``file://``) and the driver reads from the
    ``ResultGrid``: no node needs another's file system. A failed trial is retried ``ray.max_failures`` times;
    when the experiment exists, the cross-validation is resumed with ``Tuner.restore``, and a trial that had
    reported its result before the interruption gets it back as its checkpoint instead of training again.

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
        storage, name = path.rsplit("/", 1)
        trainable = tune.with_resources(
            tune.with_parameters(_cv_trial, cohort=cohort, bags=bags, config=config), trial_resources(config)
        )
        if tune.Tuner.can_restore(path):
            logger.info("resuming the cross-validation in %s", path)
            tuner = tune.Tuner.restore(path, trainable, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={"trial": tune.grid_search([{"model": s.model_name, "fold": s.fold_index} for s in specs])},
                tune_config=tune.TuneConfig(max_concurrent_trials=config.ray.max_concurrent_trials, reuse_actors=True),
                run_config=tune.RunConfig(
                    name=name,
                    storage_path=storage,
                    failure_config=tune.FailureConfig(max_failures=config.ray.max_failures),
                    # num_to_keep makes Tune save its experiment state right after each checkpoint, so a restore
                    # after a kill knows the checkpoints reported before it (and does not train those trials again)
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                    callbacks=self.callbacks,
                    verbose=self.verbose,
                ),
            )
        grid = tuner.fit()
        failed = [r for r in grid if r.error is not None]
        if failed:
            names = ", ".join(f"{r.config['trial']['model']} fold {r.config['trial']['fold']}" for r in failed)
            raise RuntimeError(f"{len(failed)} trial(s) failed after retries: {names}; see {path}") from failed[0].error
        by_trial = {(r.config["trial"]["model"], r.config["trial"]["fold"]): r.checkpoint for r in grid}
        results = [_load(by_trial[(s.model_name, s.fold_index)]) for s in specs]
        for result in (r for r in results if r.history):  # on the driver: these lines reach Prefect's run logs
            logger.info(
                "%s fold %d: %d epochs, best epoch %d (early stopping on validation AUC)",
                result.model_name,
                result.fold,
                len(result.history),
                result.best_epoch,
            )
        return results


def _cv_trial(params: dict[str, Any], cohort: Cohort, bags: dict[str, FeatureBag], config: Config) -> None:
    torch.set_num_threads(assigned_threads())
    trial = params["trial"]
    restored = tune.get_checkpoint()
    if restored is not None:  # the result was reported before an interruption or a failure: not trained again
        _report(_load(restored))
        return

    def report_epoch(epoch: int, record: dict[str, float]) -> None:
        tune.report({**record, "epoch": epoch})

    result = run_trial(trial["model"], trial["fold"], cohort, bags, config, on_epoch=report_epoch)
    with tempfile.TemporaryDirectory(prefix="leukmodel-trial-") as folder:
        with open(Path(folder) / RESULT_FILE, "wb") as handle:
            pickle.dump(result, handle)
        _report(result, tune.Checkpoint.from_directory(folder))


def _report(result: TrialResult, checkpoint: tune.Checkpoint | None = None) -> None:
    """The trial's last report: its summary metrics, and the result itself as the checkpoint."""
    correct = (result.predictions["y_true"] == result.predictions["y_pred"]).mean()
    metrics = {"epoch": len(result.history), "best_epoch": result.best_epoch, "test_accuracy": float(correct)}
    tune.report(metrics, checkpoint=checkpoint)


def _load(checkpoint: tune.Checkpoint) -> TrialResult:
    """The trial result in a checkpoint this cross-validation reported (a pickle of our own making)."""
    with checkpoint.as_directory() as folder, open(Path(folder) / RESULT_FILE, "rb") as handle:
        return pickle.load(handle)
