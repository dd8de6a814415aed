"""Spreading work over Ray: featurize shards and cross-validation trials (Ray Tune), with MLflow child runs."""

from leukmodel.distributed.cluster import init_ray, ray_session, trial_resources
from leukmodel.distributed.cv import RayTuneRunner, cv_fingerprint, experiment_path
from leukmodel.distributed.featurize import featurize_on_ray
from leukmodel.distributed.mlflow_callback import MLflowTrialLogger

__all__ = [
    "MLflowTrialLogger",
    "RayTuneRunner",
    "cv_fingerprint",
    "experiment_path",
    "featurize_on_ray",
    "init_ray",
    "ray_session",
    "trial_resources",
]
