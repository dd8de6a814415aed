"""Tile features: the backbone, batched extraction, the content-addressed cache and bags per sample."""

from leukmodel.features.backbone import BackboneInfo, load_backbone, split_backbone
from leukmodel.features.bags import Bag, Bags, MissingFeaturesError, load_bags, training_bags
from leukmodel.features.cache import FeatureCache, cache_settings, file_sha256
from leukmodel.features.device import resolve_precision
from leukmodel.features.extractor import FeatureExtractor, tile_tensor
from leukmodel.features.featurize import FeaturizeReport, SkippedImage, feature_cache, featurize
from leukmodel.features.hdf5 import BagFileError, read_h5_bag, write_h5_bag
from leukmodel.features.streamed import StreamedMaps

__all__ = [
    "BackboneInfo",
    "Bag",
    "BagFileError",
    "Bags",
    "FeatureCache",
    "FeatureExtractor",
    "FeaturizeReport",
    "MissingFeaturesError",
    "SkippedImage",
    "StreamedMaps",
    "cache_settings",
    "feature_cache",
    "featurize",
    "file_sha256",
    "load_backbone",
    "load_bags",
    "read_h5_bag",
    "resolve_precision",
    "split_backbone",
    "tile_tensor",
    "training_bags",
    "write_h5_bag",
]
