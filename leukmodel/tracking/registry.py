"""Registering the fusion model and moving the ``champion`` alias by a documented rule.

The rule: a new version becomes champion when there is no champion yet, or when its cross-validated
out-of-fold macro F1 (the fusion model's, recorded as the version tag ``leukmodel.cv_macro_f1``) is at least the
champion's. A version trained on synthetic data never displaces a champion trained on real data. A version from a
label-matched run (``leukmodel.pairing`` = ``label_matched``: its fusion results are not evidence, see
:mod:`leukmodel.evaluation.evidence`) never becomes champion unless ``tracking.allow_label_matched_champion`` says
so; the version records that flag (``leukmodel.allow_label_matched_champion``). Every version keeps its provenance
tags (pairing, synthetic, pretrained) and the id of the cross-validation run behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from leukmodel.tracking.layout import tag
from leukmodel.tracking.setup import using_tracking_uri

SCORE_TAG = tag("cv_macro_f1")
ALLOW_LABEL_MATCHED_TAG = tag("allow_label_matched_champion")


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


def register_model(
    client: MlflowClient,
    model_uri: str,
    name: str,
    alias: str,
    score: float,
    tags: dict[str, str],
    run_id: str,
    allow_label_matched: bool = False,
) -> Registration:
    """Register ``model_uri`` as a new version of ``name`` and apply the champion rule (module docstring)."""
    version_tags = {
        **tags,
        SCORE_TAG: f"{score:.6f}",
        tag("cv_run_id"): run_id,
        ALLOW_LABEL_MATCHED_TAG: str(allow_label_matched).lower(),
    }
    with using_tracking_uri(client.tracking_uri):
        version = mlflow.register_model(model_uri, name, tags=version_tags).version
    if tags.get(tag("pairing")) == "label_matched" and not allow_label_matched:
        champion, reason = (
            False,
            ("label-matched run: its fusion results are not evidence (tracking.allow_label_matched_champion is off)"),
        )
    else:
        champion, reason = _decide(client, name, alias, score, tags)
    if champion:
        client.set_registered_model_alias(name, alias, version)
    client.set_model_version_tag(name, version, tag("champion_decision"), reason)
    return Registration(name, str(version), alias, champion, reason)


def _decide(client: MlflowClient, name: str, alias: str, score: float, tags: dict[str, str]) -> tuple[bool, str]:
    try:
        current = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return True, f"no {alias} yet"
    if SCORE_TAG not in current.tags:
        return True, f"{alias} v{current.version} has no recorded score"
    current_score = float(current.tags[SCORE_TAG])
    if tags.get(tag("synthetic")) == "true" and current.tags.get(tag("synthetic")) == "false":
        return False, f"trained on synthetic data; {alias} v{current.version} was trained on real data"
    if score >= current_score:
        return True, f"macro F1 {score:.3f} >= {alias} v{current.version}'s {current_score:.3f}"
    return False, f"macro F1 {score:.3f} < {alias} v{current.version}'s {current_score:.3f}"


def find_registration(client: MlflowClient, name: str, alias: str, run_id: str) -> Registration | None:
    """The version registered from the cross-validation run ``run_id`` (the latest, if several), or ``None``."""
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    ours = [v for v in versions if v.tags.get(tag("cv_run_id")) == run_id]
    if not ours:
        return None
    version = max(ours, key=lambda v: int(v.version))
    try:
        champion = client.get_model_version_by_alias(name, alias).version == version.version
    except MlflowException:
        champion = False
    reason = version.tags.get(tag("champion_decision"), "")
    return Registration(name, str(version.version), alias, champion, reason)
