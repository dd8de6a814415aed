"""Child MLflow runs for Ray Tune trials, written from the driver as the trials report."""

from __future__ import annotations

import time
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from ray import tune

from leukmodel.tracking.layout import KIND_TRIAL, tag
from leukmodel.tracking.setup import context_tags

EPOCH_METRICS = ("train_loss", "val_loss", "val_auc", "val_accuracy")


class MLflowTrialLogger(tune.Callback):
    """One child run per (model, fold) trial under the cross-validation's parent run.

    Runs on the Ray driver, so trials never talk to MLflow themselves (one writer to the tracking database).
    Per-epoch metrics are logged as the trials report them; a trial that is retried or resumed after a kill gets
    a fresh child run and its unfinished one is marked KILLED. A trial whose child run already FINISHED (it
    completed just before a kill, and Tune restores it from its checkpoint) is not logged again.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, tags: dict[str, str]) -> None:
        self.client = MlflowClient(tracking_uri)
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.tags = tags
        self._runs: dict[str, str | None] = {}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._open(trial)

    def on_trial_restore(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._open(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any) -> None:
        run_id = self._runs[trial.trial_id] if trial.trial_id in self._runs else self._open(trial)
        if run_id is None:
            return
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        now = int(time.time() * 1000)
        keys = (*EPOCH_METRICS, "best_epoch", "test_accuracy")
        self.client.log_batch(run_id, metrics=[Metric(k, float(result[k]), now, step) for k in keys if k in result])

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, RunStatus.FINISHED)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, RunStatus.FAILED)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """The attempt failed and will be retried: its run ends FAILED, the retry logs to a new one."""
        self._close(trial, RunStatus.FAILED)

    def _open(self, trial: Any) -> str | None:
        """A new child run for ``trial``, or ``None`` when its child run already finished."""
        spec = trial.config["trial"]
        self._close(trial, RunStatus.KILLED)
        earlier = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{self.parent_run_id}' and tags.`{tag('model')}` = '{spec['model']}'"
                f" and tags.`{tag('fold')}` = '{spec['fold']}'"
            ),
        )
        if any(run.info.status == RunStatus.to_string(RunStatus.FINISHED) for run in earlier):
            self._runs[trial.trial_id] = None
            return None
        for stale in earlier:
            if stale.info.status == RunStatus.to_string(RunStatus.RUNNING):
                self.client.set_terminated(stale.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{spec['model']}-fold{spec['fold']}",
            tags=context_tags(
                {
                    **self.tags,
                    MLFLOW_PARENT_RUN_ID: self.parent_run_id,
                    tag("kind"): KIND_TRIAL,
                    tag("model"): spec["model"],
                    tag("fold"): str(spec["fold"]),
                    tag("ray_trial_id"): trial.trial_id,
                }
            ),
        )
        self.client.log_batch(run.info.run_id, params=[Param("model", spec["model"]), Param("fold", str(spec["fold"]))])
        self._runs[trial.trial_id] = run.info.run_id
        return run.info.run_id

    def _close(self, trial: Any, status: int) -> None:
        run_id = self._runs.pop(trial.trial_id, None)
        if run_id is not None:
            self.client.set_terminated(run_id, RunStatus.to_string(status))
