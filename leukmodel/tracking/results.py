"""Logging a finished cross-validation to its parent run and its child runs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from leukmodel.evaluation.evidence import EVIDENCE, LABEL_MATCHED_REASON, NOT_EVIDENCE
from leukmodel.tracking.artifacts import RunArtifacts
from leukmodel.tracking.layout import tag
from leukmodel.training import CVResult


def metric_key(*parts: object) -> str:
    """An MLflow-safe metric name: ``("fusion", "f1[ALL]") -> "fusion.f1.ALL"``."""
    text = ".".join(str(p) for p in parts if p is not None and p != "")
    return re.sub(r"[^\w.\- /]", ".", text).replace("..", ".").strip(".")


def log_cv_result(
    client: MlflowClient, run_id: str, result: CVResult, cv_dir: Path, figures: dict[str, Figure]
) -> None:
    """Out-of-fold metrics with CIs, McNemar p-values, tables, the ``cv/`` folder and figures on the parent run;
    each fold's test metrics on its child run. The parent run stays RUNNING until its model is registered.

    Under label-matched pairing the McNemar p-values involving a model that reads expression are named
    ``mcnemar_p.A_vs_B.not_evidence`` and the run is tagged ``leukmodel.not_evidence`` (the models) and
    ``leukmodel.not_evidence_reason``.
    """
    oof = result.metrics[result.metrics["scope"] == "oof"]
    metrics = []
    for row in oof.itertuples(index=False):
        for suffix, value in (("", row.value), ("ci_low", row.ci_low), ("ci_high", row.ci_high)):
            if pd.notna(value):
                metrics.append(Metric(metric_key(row.model, row.metric, suffix), float(value), _now(), 0))
    for row in result.comparisons().itertuples(index=False):
        marked = "not_evidence" if getattr(row, "evidence", EVIDENCE) == NOT_EVIDENCE else ""
        name = metric_key("mcnemar_p", f"{row.reference}_vs_{row.model}", marked)
        metrics.append(Metric(name, float(row.p_value), _now(), 0))
    _log_batch(client, run_id, metrics)
    if result.not_evidence:
        client.set_tag(run_id, tag("not_evidence"), ",".join(result.not_evidence))
        client.set_tag(run_id, tag("not_evidence_reason"), LABEL_MATCHED_REASON)
    artifacts = RunArtifacts(client, run_id)
    artifacts.log_cv(cv_dir, result.predictions, result.comparisons())
    artifacts.log_figures(figures)
    _log_fold_metrics(client, run_id, result)


def _log_fold_metrics(client: MlflowClient, parent_run_id: str, result: CVResult) -> None:
    parent = client.get_run(parent_run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' and attributes.status = 'FINISHED'",
    )
    by_trial = {(r.data.tags.get(tag("model")), r.data.tags.get(tag("fold"))): r.info.run_id for r in children}
    folds = result.metrics[result.metrics["scope"] == "fold"]
    for (model, fold), group in folds.groupby(["model", "fold"]):
        run_id = by_trial.get((model, str(fold)))
        if run_id is None:
            continue
        _log_batch(
            client,
            run_id,
            [Metric(metric_key("test", r.metric), float(r.value), _now(), 0) for r in group.itertuples()],
        )


def _now() -> int:
    return int(time.time() * 1000)


def _log_batch(client: MlflowClient, run_id: str, metrics: list[Metric], size: int = 500) -> None:
    for start in range(0, len(metrics), size):
        client.log_batch(run_id, metrics=metrics[start : start + size])
