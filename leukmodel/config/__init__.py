"""The typed configuration of a leukmodel run (one object for the CLI, the flows and the deployments)."""

from leukmodel.config.data import DataConfig, ExpressionSource, ImageSource, PairingConfig
from leukmodel.config.features import BackboneConfig, FeaturesConfig, TilesConfig
from leukmodel.config.model import CVConfig, GenomicConfig, ModelConfig, TrainingConfig
from leukmodel.config.orchestration import ExplainConfig, RayConfig, TrackingConfig
from leukmodel.config.root import Config, config_from_dict, load_config
from leukmodel.config.synthetic import SyntheticConfig

__all__ = [
    "BackboneConfig",
    "CVConfig",
    "Config",
    "DataConfig",
    "ExplainConfig",
    "ExpressionSource",
    "FeaturesConfig",
    "GenomicConfig",
    "ImageSource",
    "ModelConfig",
    "PairingConfig",
    "RayConfig",
    "SyntheticConfig",
    "TilesConfig",
    "TrackingConfig",
    "TrainingConfig",
    "config_from_dict",
    "load_config",
]
