"""The bag classifier interface, the fusion model and its two single-modality baselines, built alike so their
comparison is fair. Which models exist, and how each is built, is :mod:`leukmodel.models.registry`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from torch import Tensor, nn

from leukmodel.config.model import ModelConfig, ModelName
from leukmodel.models.cross_attention import BidirectionalCrossAttention
from leukmodel.models.genomic import GenomicEncoder, GenomicTokens
from leukmodel.models.mil import ClassifierHead, GatedAttentionPool
from leukmodel.models.output import ModelOutput
from leukmodel.models.tile_norm import FeatureStandardizer


@dataclass(frozen=True)
class ModelParts:
    """What every model is built from (each takes the parts it reads): C classes, the tile feature size D (after
    ``tile_encoder``), the size of the genomic input (after ``genomic_input``, the fold's frozen transform), the
    layer sizes, and the optional input layers."""

    n_classes: int
    feature_dim: int
    genomic_in: int
    cfg: ModelConfig
    tile_encoder: nn.Module | None = None
    genomic_input: nn.Module | None = None

    @property
    def tile_width(self) -> int:
        """The size of a tile feature as the attention MIL and the cross-attention see it: ``cfg.tile_dim`` when
        tiles are projected, else D."""
        return self.cfg.tile_dim or self.feature_dim


class BagClassifier(nn.Module, ABC):
    """Common interface: ``forward(features (N, D) | None, expression (G,) | None) -> ModelOutput`` for one bag,
    ``forward_packed(features (B, N, D) | None, expression (B, G) | None, mask (B, N) | None)`` for a packed batch.

    ``features`` are the bag's tile features (or its layer3 maps when a ``tile_encoder`` fine-tunes layer4),
    standardised by the model's ``tile_norm`` (fitted on the training tiles; the identity with
    ``standardize_tiles: false``) and projected to ``tile_dim`` by its ``tile_projection`` (the identity without
    it); ``expression`` is the raw per-gene
    profile, which the frozen genomic projection transforms and ``genomic_norm`` standardises per component (fitted
    on the training samples; the identity with ``standardize_genomic: false`` and for the linear reference). In a
    packed batch, bags with fewer than N tiles are padded and ``mask`` marks the real tiles (``None``: all are
    real); each bag gets the output it gets alone.

    Every model is built from :class:`ModelParts` (:func:`~leukmodel.models.registry.build_model`).
    """

    name: ModelName
    uses_images: bool
    uses_expression: bool
    #: What ``model.standardize_genomic`` and ``training.refit`` left unset (``None``) mean for this model.
    standardize_genomic_default: bool = False
    refit_default: bool = False

    def __init__(self, parts: ModelParts):
        super().__init__()
        self.n_classes = parts.n_classes
        self.tile_encoder = parts.tile_encoder if self.uses_images else None
        self.genomic_input = parts.genomic_input if self.uses_expression else None
        self.genomic_norm: nn.Module = nn.Identity()
        self.tile_projection: nn.Module = nn.Identity()

    def input_layers(self, parts: ModelParts) -> None:
        """The layers between the inputs and the model proper, as ``parts.cfg`` asks: the standardisation of the
        tiles and of the genomic components the model reads (fitted later on the fold's training part;
        ``standardize_genomic`` unset is the model's default) and the tiles' projection to ``cfg.tile_dim`` (the
        identity without it)."""
        if self.uses_images:
            self.tile_norm = FeatureStandardizer(parts.feature_dim) if parts.cfg.standardize_tiles else nn.Identity()
            self.tile_projection = tile_projection(parts)
        standardize_genomic = parts.cfg.standardize_genomic
        if standardize_genomic is None:
            standardize_genomic = self.standardize_genomic_default
        if self.uses_expression and standardize_genomic:
            self.genomic_norm = FeatureStandardizer(parts.genomic_in)

    def forward(self, features: Tensor | None, expression: Tensor | None) -> ModelOutput:
        """One bag: a packed batch of one, without padding."""
        return self.forward_packed(_batch_of_one(features), _batch_of_one(expression), None).bag(0)

    @abstractmethod
    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        """A packed batch of bags; every model implements it."""

    def tiles(self, features: Tensor | None, mask: Tensor | None = None) -> Tensor:
        """The bag's tile features: encoded (layer4) when fine-tuning, then standardised and projected (when
        configured)."""
        if features is None:
            raise ValueError(f"the {self.name} model needs the bag's tile features")
        return self.tile_projection(self.tile_norm(self.encode_tiles(features, mask)))

    def encode_tiles(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        """Tile features before standardisation (what :class:`FeatureStandardizer` is fitted on); the layer4
        encoder sees only the real tiles of a packed batch (padding stays zero)."""
        if self.tile_encoder is None:
            return features
        if mask is None:
            return self.tile_encoder(features)
        encoded = self.tile_encoder(features[mask])
        return encoded.new_zeros(*mask.shape, encoded.shape[-1]).masked_scatter(mask.unsqueeze(-1), encoded)

    def genome(self, expression: Tensor | None) -> Tensor:
        if expression is None:
            raise ValueError(f"the {self.name} model needs the sample's expression profile")
        return self.genomic_norm(self.project_genome(expression))

    def project_genome(self, expression: Tensor) -> Tensor:
        """The expression through the frozen genomic transform, before standardisation (what it is fitted on)."""
        return expression if self.genomic_input is None else self.genomic_input(expression)


class GenomicOnlyModel(BagClassifier):
    """Baseline: genomic encoder + linear head.

    On p >> n expression it reads standardised principal components and is refitted on the fold's training and
    validation samples by default: without either it lost to logistic regression on the same components
    (docs/linear-references.md).
    """

    name = "genomic"
    uses_images = False
    uses_expression = True
    standardize_genomic_default = True
    refit_default = True

    def __init__(self, parts: ModelParts):
        super().__init__(parts)
        self.input_layers(parts)
        self.encoder = genomic_encoder(parts)
        self.head = nn.Linear(parts.cfg.genomic_dim, parts.n_classes)

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        return ModelOutput(logits=self.head(self.encoder(self.genome(expression))))


class ImageOnlyModel(BagClassifier):
    """Baseline: the same standardised tile features and gated attention MIL as the fusion model, no genomics."""

    name = "image"
    uses_images = True
    uses_expression = False

    def __init__(self, parts: ModelParts):
        super().__init__(parts)
        self.input_layers(parts)
        self.pool = GatedAttentionPool(parts.tile_width, parts.cfg.mil_attention_dim)
        self.head = head(parts, parts.tile_width)

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        pooled, attention = self.pool(self.tiles(features, mask), mask)
        return ModelOutput(logits=self.head(pooled), attention=attention)


class FusionModel(BagClassifier):
    """Genomic encoder -> genomic tokens; bidirectional cross-attention with the tiles; gated attention MIL."""

    name = "fusion"
    uses_images = True
    uses_expression = True

    def __init__(self, parts: ModelParts):
        super().__init__(parts)
        cfg = parts.cfg
        self.input_layers(parts)
        self.encoder = genomic_encoder(parts)
        self.tokens = GenomicTokens(cfg.genomic_dim, cfg.attention_heads * cfg.attention_head_dim)
        self.cross_attention = BidirectionalCrossAttention(
            parts.tile_width, cfg.genomic_dim, cfg.attention_heads, cfg.attention_head_dim, cfg.dropout
        )
        self.pool = GatedAttentionPool(parts.tile_width, cfg.mil_attention_dim)
        self.head = head(parts, parts.tile_width)

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        embedding = self.encoder(self.genome(expression))
        fused = self.cross_attention(self.tiles(features, mask), self.tokens, embedding, mask)
        pooled, attention = self.pool(fused.fused, mask)
        return ModelOutput(
            logits=self.head(pooled),
            attention=attention,
            genomic_to_image=fused.genomic_to_image,
            image_to_genomic=fused.image_to_genomic,
        )


def genomic_encoder(parts: ModelParts) -> GenomicEncoder:
    """The genomic encoder of the models that read expression, from the genomic input to the embedding."""
    return GenomicEncoder(parts.genomic_in, parts.cfg.genomic_hidden, parts.cfg.genomic_dim, parts.cfg.dropout)


def tile_projection(parts: ModelParts) -> nn.Module:
    """Each standardised tile feature D -> ``cfg.tile_dim`` (Linear, ReLU, dropout; CLAM's first layer), or the
    identity when ``tile_dim`` is unset."""
    if parts.cfg.tile_dim is None:
        return nn.Identity()
    return nn.Sequential(nn.Linear(parts.feature_dim, parts.cfg.tile_dim), nn.ReLU(), nn.Dropout(parts.cfg.dropout))


def head(parts: ModelParts, in_dim: int) -> ClassifierHead:
    """The bag classifier head of the attention models, from a pooled bag representation of size ``in_dim``."""
    return ClassifierHead(in_dim, parts.n_classes, parts.cfg.mil_hidden, parts.cfg.dropout)


def _batch_of_one(x: Tensor | None) -> Tensor | None:
    return None if x is None else x.unsqueeze(0)
