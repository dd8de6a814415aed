"""Registering the fusion model of a cross-validation run and moving the ``champion`` alias by a documented rule.

The rule: a new version becomes champion when there is no champion yet, or when its cross-validated
out-of-fold macro F1 (the fusion model's, recorded as the version tag ``leukmodel.cv_macro_f1``) is at least the
champion's. A version trained on synthetic data never displaces a champion trained on real data. A version from a
label-matched run (``leukmodel.pairing`` = ``label_matched``: its fusion results are not evidence, see
:mod:`leukmodel.evaluation.evidence`) never becomes champion unless ``tracking.allow_label_matched_champion`` says
so; the version records that flag (``leukmodel.allow_label_matched_champion``). Every version keeps its provenance
tags (pairing, synthetic, pretrained) and the id of the cross-validation run behind it. The score is the macro F1
of the run's best deep model (fusion where it was run).

Registration is the step that ends a pipeline run, and it is atomic and idempotent (:func:`register_cv_run`): the
parent run is marked FINISHED only after its version exists and the alias decision is recorded on it, and a retry
or re-run after a kill at any point finds the logged model and the version instead of making new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mlflow
from mlflow.entities import LoggedModelStatus, RunStatus
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from leukmodel.models.registry import deep_models
from leukmodel.tracking.layout import MODEL, TAG_PREFIX, tag
from leukmodel.tracking.results import metric_key
from leukmodel.tracking.setup import using_tracking_uri

SCORE_TAG = tag("cv_macro_f1")
ALLOW_LABEL_MATCHED_TAG = tag("allow_label_matched_champion")
RUN_TAG = tag("cv_run_id")
DECISION_TAG = tag("champion_decision")


@dataclass(frozen=True)
class Registration:
    """The registered version and whether it took the alias (and why)."""

    name: str
    version: str
    alias: str
    champion: bool
    reason: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.champion else f"models:/{self.name}/{self.version}"


def register_cv_run(
    client: MlflowClient,
    run_id: str,
    name: str,
    alias: str,
    log_model: Callable[[], str],
    allow_label_matched: bool = False,
) -> Registration:
    """Register the model of the cross-validation run ``run_id`` as a version of ``name``, apply the champion rule
    (module docstring), then mark the run FINISHED.

    Each step first looks for what an earlier, interrupted call did: the version registered from this run (tag
    ``leukmodel.cv_run_id``); else a READY logged model named ``model`` of this run, which is registered;
    ``log_model`` (which logs the model to the run, leaves the run unfinished and returns the model's URI) is
    called only when there is neither. The alias decision is made once, and recorded as the version tag
    ``leukmodel.champion_decision``.
    """
    run = client.get_run(run_id)
    version = _run_version(client, name, run_id)
    if version is None:
        model_uri = _logged_model_uri(client, run.info.experiment_id, run_id) or log_model()
        score = float(run.data.metrics[score_metric(run.data.metrics)])
        tags = {
            **{k: v for k, v in run.data.tags.items() if k.startswith(TAG_PREFIX)},
            SCORE_TAG: f"{score:.6f}",
            RUN_TAG: run_id,
            ALLOW_LABEL_MATCHED_TAG: str(allow_label_matched).lower(),
        }
        with using_tracking_uri(client.tracking_uri):
            version = mlflow.register_model(model_uri, name, tags=tags)
    if DECISION_TAG in version.tags:
        registration = _registration(client, version, alias)
    else:
        champion, reason = _decide(client, version, alias)
        if champion:
            client.set_registered_model_alias(name, alias, version.version)
        client.set_model_version_tag(name, version.version, DECISION_TAG, reason)
        registration = Registration(name, str(version.version), alias, champion, reason)
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return registration


def find_registration(client: MlflowClient, name: str, alias: str, run_id: str) -> Registration | None:
    """The version registered from the cross-validation run ``run_id``, or ``None``."""
    version = _run_version(client, name, run_id)
    return None if version is None else _registration(client, version, alias)


def _run_version(client: MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    """The version of ``name`` registered from the run ``run_id`` (the first, were there several)."""
    try:
        versions = client.search_model_versions(f"name = '{name}' and tags.`{RUN_TAG}` = '{run_id}'")
    except MlflowException:
        return None
    return min(versions, key=lambda v: int(v.version), default=None)


def _logged_model_uri(client: MlflowClient, experiment_id: str, run_id: str) -> str | None:
    """``models:/<model id>`` of the completely logged model ``model`` of the run, if there is one."""
    models = client.search_logged_models(
        [experiment_id], filter_string=f"source_run_id = '{run_id}' AND name = '{MODEL}'"
    )
    ready = [m for m in models if m.status == LoggedModelStatus.READY]
    return ready[0].model_uri if ready else None


def _registration(client: MlflowClient, version: ModelVersion, alias: str) -> Registration:
    try:
        champion = str(client.get_model_version_by_alias(version.name, alias).version) == str(version.version)
    except MlflowException:
        champion = False
    reason = version.tags.get(DECISION_TAG, "")
    return Registration(version.name, str(version.version), alias, champion, reason)


def score_metric(metrics: dict[str, float]) -> str:
    """The run metric that scores its version: the macro F1 of the first deep model of the registry it ran."""
    for model in deep_models():
        if metric_key(model, "macro_f1") in metrics:
            return metric_key(model, "macro_f1")
    raise KeyError(f"the run has no macro F1 of a deep model ({', '.join(deep_models())})")


def _decide(client: MlflowClient, version: ModelVersion, alias: str) -> tuple[bool, str]:
    if version.tags.get(tag("pairing")) == "label_matched" and version.tags.get(ALLOW_LABEL_MATCHED_TAG) != "true":
        return (
            False,
            "label-matched run: its fusion results are not evidence (tracking.allow_label_matched_champion is off)",
        )
    score = float(version.tags[SCORE_TAG])
    try:
        current = client.get_model_version_by_alias(version.name, alias)
    except MlflowException:
        return True, f"no {alias} yet"
    if str(current.version) == str(version.version):
        return True, f"macro F1 {score:.3f}; {alias} since an interrupted registration"
    if SCORE_TAG not in current.tags:
        return True, f"{alias} v{current.version} has no recorded score"
    current_score = float(current.tags[SCORE_TAG])
    if version.tags.get(tag("synthetic")) == "true" and current.tags.get(tag("synthetic")) == "false":
        return False, f"trained on synthetic data; {alias} v{current.version} was trained on real data"
    if score >= current_score:
        return True, f"macro F1 {score:.3f} >= {alias} v{current.version}'s {current_score:.3f}"
    return False, f"macro F1 {score:.3f} < {alias} v{current.version}'s {current_score:.3f}"
