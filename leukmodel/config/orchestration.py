"""Tracking (MLflow) and distribution (Ray Tune)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from leukmodel.config.base import ResolvedLocation, Section


class TrackingConfig(Section):
    """MLflow. Empty values fall back to ``MLFLOW_TRACKING_URI`` and then to a SQLite file in the output folder.

    ``allow_label_matched_champion``: a model from a label-matched run (whose fusion results are not evidence) may
    take the ``alias``; off by default, and recorded on every registered version either way.
    """

    mlflow_uri: str | None = None
    experiment: str | None = None
    registered_model: str | None = None
    alias: str = "champion"
    allow_label_matched_champion: bool = False


class RayConfig(Section):
    """Ray: featurize shards and Ray Tune (model, fold) trials.

    ``address`` (or ``RAY_ADDRESS``) attaches to a running cluster; without it Ray starts in-process. A trial
    takes ``cpus_per_trial`` CPUs, plus ``gpus_per_trial`` GPUs where the cluster has GPUs (fractions share a
    GPU). A featurize shard takes ``featurize_cpus`` CPUs (and ``gpus_per_trial`` GPUs where there are GPUs).
    Trials and shards that fail are retried ``max_failures`` times. Tune's experiment, with each trial's result as
    a checkpoint, goes to ``storage_path`` (default ``<output_dir>/ray``): a path, or a URI (``s3://...``,
    ``gs://...``, ``file:///...``) that every node of a cluster reaches; an interrupted cross-validation is
    resumed from there. ``runtime_env`` is Ray's runtime environment for the driver's jobs (``working_dir``,
    ``py_modules``, ``pip``, ``env_vars``, ...), so that a cluster's nodes need not have leukmodel installed:
    ``{"py_modules": ["/path/to/leukmodel"], "pip": ["h5py"]}``.
    """

    address: str | None = None
    num_cpus: int | None = None
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(1.0, ge=0)
    featurize_cpus: float = Field(2.0, gt=0)
    max_concurrent_trials: int | None = None
    max_failures: int = Field(2, ge=0)
    storage_path: ResolvedLocation | None = None
    runtime_env: dict[str, Any] | None = None
    dashboard: bool = False


class ExplainConfig(Section):
    """Explanations shown in the report and logged to MLflow (see docs/explain.md).

    ``shap_background``: training profiles of the fold that SHAP integrates from; ``shap_samples``: expected-gradients
    samples per class.
    """

    samples_per_class: int = Field(2, ge=0)
    top_tiles: int = Field(4, ge=1)
    top_genes: int = Field(20, ge=1)
    shap_background: int = Field(32, ge=1)
    shap_samples: int = Field(200, ge=1)
