"""A trained model with everything needed to use it again: classes, genes, transform, configs and weights."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from leukmodel.config.model import ModelName
from leukmodel.config.root import Config, config_from_dict
from leukmodel.data.cohort import Cohort
from leukmodel.errors import LeukInputError
from leukmodel.genomics.transform import GenomicTransform
from leukmodel.models.fusion import BagClassifier
from leukmodel.models.registry import build_model, uses_images
from leukmodel.training.seeding import trial_seed
from leukmodel.training.splits import validation_split
from leukmodel.training.trainer import EpochCallback, FeatureBag, TrialResult, layer4_encoder, train_model

BUNDLE_FORMAT = "leukmodel-bundle/1"


class BundleFileError(LeukInputError):
    """A model bundle file that cannot be read."""


@dataclass
class ModelBundle:
    """A trained model, serialisable with plain tensors and JSON-like values (``torch.load(weights_only=True)``).

    Attributes:
        model_name: a model of the registry (:data:`~leukmodel.models.registry.MODELS`).
        classes: the output order.
        genes: the per-gene expression input order (empty for image-only).
        feature_dim: the tile feature size after the tile encoder (0 for genomic-only).
        config: the whole run configuration (``Config.to_dict()``): model sizes, backbone and tiling that
            produced the features, genomic and training settings.
        genomic_transform: the fitted genomic transform (``None`` for image-only).
        state_dict: the trained weights.
        tags: provenance of the cohort it was trained on (``Cohort.tags()``).
        fold: the cross-validation fold it was trained on, or ``None`` for a final model.
        seed: the seed of its training.
        best_epoch: the epoch whose weights these are.
    """

    model_name: ModelName
    classes: tuple[str, ...]
    genes: list[str]
    feature_dim: int
    config: dict[str, Any]
    genomic_transform: GenomicTransform | None
    state_dict: dict[str, Tensor] = field(repr=False)
    tags: dict[str, str] = field(default_factory=dict)
    fold: int | None = None
    seed: int = 0
    best_epoch: int = 0

    @classmethod
    def from_trial(cls, trial: TrialResult, cohort: Cohort, config: Config) -> ModelBundle:
        return cls(
            model_name=trial.model_name,
            classes=tuple(trial.classes),
            genes=list(trial.genes),
            feature_dim=trial.feature_dim,
            config=config.to_dict(),
            genomic_transform=trial.genomic_transform,
            state_dict=trial.state_dict,
            tags=cohort.tags(),
            fold=trial.fold,
            seed=trial.seed,
            best_epoch=trial.best_epoch,
        )

    @property
    def run_config(self) -> Config:
        return config_from_dict(self.config, source="model bundle")

    def build(self, device: str | torch.device = "cpu") -> BagClassifier:
        """The model with its weights, in eval mode, on ``device``."""
        config = self.run_config
        tile_encoder = None
        if uses_images(self.model_name) and config.training.finetune_layer4:
            tile_encoder, _ = layer4_encoder(config, pretrained=False)
        model = build_model(
            self.model_name,
            len(self.classes),
            self.feature_dim,
            len(self.genes),
            config.model,
            self.genomic_transform,
            tile_encoder,
        )
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the bundle to ``path`` (a ``.pt`` file readable with ``torch.load(weights_only=True)``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": BUNDLE_FORMAT,
            "model_name": self.model_name,
            "classes": list(self.classes),
            "genes": self.genes,
            "feature_dim": self.feature_dim,
            "config": self.config,
            "genomic_transform": None if self.genomic_transform is None else self.genomic_transform.to_state(),
            "state_dict": self.state_dict,
            "tags": self.tags,
            "fold": self.fold,
            "seed": self.seed,
            "best_epoch": self.best_epoch,
        }
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        torch.save(payload, partial)
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> ModelBundle:
        """Read a bundle written by :meth:`save` (no pickled code is executed).

        Raises:
            BundleFileError: the file is missing, damaged or not a leukmodel bundle.
        """
        expected = "a model bundle written by leukmodel (cv/models/<model>-fold<k>.pt)"
        if not Path(path).is_file():
            raise BundleFileError("model bundle not found", file=path, expected=expected)
        try:
            payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
            raise BundleFileError(
                f"cannot be read as a file of tensors only ({type(exc).__name__}): damaged, or not a bundle",
                file=path,
                expected=expected,
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != BUNDLE_FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise BundleFileError(f"not a leukmodel model bundle (format {found!r})", file=path, expected=expected)
        transform = payload["genomic_transform"]
        return cls(
            model_name=payload["model_name"],
            classes=tuple(payload["classes"]),
            genes=list(payload["genes"]),
            feature_dim=int(payload["feature_dim"]),
            config=payload["config"],
            genomic_transform=None if transform is None else GenomicTransform.from_state(transform),
            state_dict=payload["state_dict"],
            tags=dict(payload["tags"]),
            fold=payload["fold"],
            seed=int(payload["seed"]),
            best_epoch=int(payload["best_epoch"]),
        )


def train_final(
    model_name: ModelName,
    cohort: Cohort,
    bags: dict[str, FeatureBag],
    config: Config,
    on_epoch: EpochCallback | None = None,
) -> ModelBundle:
    """Train on the whole cohort for registration, with a stratified, patient-grouped validation split
    (``cv.val_fraction``) for early stopping. Its performance is what cross-validation estimated.
    """
    train_ids, val_ids = validation_split(cohort, config.cv.val_fraction, config.seed)
    seed = trial_seed(config.seed, None)
    trained = train_model(model_name, cohort, bags, config, train_ids, val_ids, seed, on_epoch)
    return ModelBundle(
        model_name=model_name,
        classes=tuple(cohort.classes),
        genes=cohort.genes if trained.genomic_transform is not None else [],
        feature_dim=trained.feature_dim,
        config=config.to_dict(),
        genomic_transform=trained.genomic_transform,
        state_dict={k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items()},
        tags=cohort.tags(),
        fold=None,
        seed=seed,
        best_epoch=trained.best_epoch,
    )
