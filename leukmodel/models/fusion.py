"""The fusion model and its two baselines, built alike so their comparison is fair."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

from leukmodel.config.model import ModelConfig, ModelName
from leukmodel.genomics.transform import GenomicTransform
from leukmodel.models.cross_attention import BidirectionalCrossAttention
from leukmodel.models.genomic import GenomicEncoder, GenomicTokens
from leukmodel.models.mil import ClassifierHead, GatedAttentionPool
from leukmodel.models.output import ModelOutput
from leukmodel.models.tile_norm import FeatureStandardizer

MODEL_NAMES: tuple[ModelName, ...] = ("fusion", "image", "genomic", "linear_image", "linear_genomic")


class BagClassifier(nn.Module, ABC):
    """Common interface: ``forward(features (N, D) | None, expression (G,) | None) -> ModelOutput`` for one bag,
    ``forward_packed(features (B, N, D) | None, expression (B, G) | None, mask (B, N) | None)`` for a packed batch.

    ``features`` are the bag's tile features (or its layer3 maps when a ``tile_encoder`` fine-tunes layer4),
    standardised by the model's ``tile_norm`` (fitted on the training tiles; the identity with
    ``standardize_tiles: false``); ``expression`` is the raw per-gene
    profile, which the frozen genomic projection transforms and ``genomic_norm`` standardises per component (fitted
    on the training samples; the identity with ``standardize_genomic: false`` and for the linear reference). In a
    packed batch, bags with fewer than N tiles are padded and ``mask`` marks the real tiles (``None``: all are
    real); each bag gets the output it gets alone.
    """

    name: ModelName
    uses_images: bool
    uses_expression: bool
    #: What ``model.standardize_genomic`` and ``training.refit`` left unset (``None``) mean for this model.
    standardize_genomic_default: bool = False
    refit_default: bool = False

    def __init__(self, n_classes: int, tile_encoder: nn.Module | None = None, genomic_input: nn.Module | None = None):
        super().__init__()
        self.n_classes = n_classes
        self.tile_encoder = tile_encoder
        self.genomic_input = genomic_input
        self.genomic_norm: nn.Module = nn.Identity()

    def forward(self, features: Tensor | None, expression: Tensor | None) -> ModelOutput:
        """One bag: a packed batch of one, without padding."""
        return self.forward_packed(_batch_of_one(features), _batch_of_one(expression), None).bag(0)

    @abstractmethod
    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        """A packed batch of bags; every model implements it."""

    def tiles(self, features: Tensor | None, mask: Tensor | None = None) -> Tensor:
        """The bag's tile features: encoded (layer4) when fine-tuning, then standardised (when configured)."""
        if features is None:
            raise ValueError(f"the {self.name} model needs the bag's tile features")
        return self.tile_norm(self.encode_tiles(features, mask))

    def encode_tiles(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        """Tile features before standardisation (what :class:`FeatureStandardizer` is fitted on); the layer4
        encoder sees only the real tiles of a packed batch (padding stays zero)."""
        if self.tile_encoder is None:
            return features
        if mask is None:
            return self.tile_encoder(features)
        encoded = self.tile_encoder(features[mask])
        return encoded.new_zeros(*mask.shape, encoded.shape[-1]).masked_scatter(mask.unsqueeze(-1), encoded)

    def standardize_genomic(self, cfg: ModelConfig, genomic_in: int) -> None:
        """Standardise the genomic components (fitted on the training samples) when configured, or by default."""
        on = self.standardize_genomic_default if cfg.standardize_genomic is None else cfg.standardize_genomic
        if on:
            self.genomic_norm = FeatureStandardizer(genomic_in)

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

    def __init__(self, n_classes: int, genomic_in: int, cfg: ModelConfig, genomic_input: nn.Module | None = None):
        super().__init__(n_classes, genomic_input=genomic_input)
        self.standardize_genomic(cfg, genomic_in)
        self.encoder = GenomicEncoder(genomic_in, cfg.genomic_hidden, cfg.genomic_dim, cfg.dropout)
        self.head = nn.Linear(cfg.genomic_dim, n_classes)

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        return ModelOutput(logits=self.head(self.encoder(self.genome(expression))))


class ImageOnlyModel(BagClassifier):
    """Baseline: the same standardised tile features and gated attention MIL as the fusion model, no genomics."""

    name = "image"
    uses_images = True
    uses_expression = False

    def __init__(self, n_classes: int, feature_dim: int, cfg: ModelConfig, tile_encoder: nn.Module | None = None):
        super().__init__(n_classes, tile_encoder=tile_encoder)
        self.tile_norm = FeatureStandardizer(feature_dim) if cfg.standardize_tiles else nn.Identity()
        self.pool = GatedAttentionPool(feature_dim, cfg.mil_attention_dim)
        self.head = ClassifierHead(feature_dim, n_classes, cfg.mil_hidden, cfg.dropout)

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        pooled, attention = self.pool(self.tiles(features, mask), mask)
        return ModelOutput(logits=self.head(pooled), attention=attention)


class FusionModel(BagClassifier):
    """Genomic encoder -> genomic tokens; bidirectional cross-attention with the tiles; gated attention MIL."""

    name = "fusion"
    uses_images = True
    uses_expression = True

    def __init__(
        self,
        n_classes: int,
        feature_dim: int,
        genomic_in: int,
        cfg: ModelConfig,
        tile_encoder: nn.Module | None = None,
        genomic_input: nn.Module | None = None,
    ):
        super().__init__(n_classes, tile_encoder=tile_encoder, genomic_input=genomic_input)
        width = cfg.attention_heads * cfg.attention_head_dim
        self.tile_norm = FeatureStandardizer(feature_dim) if cfg.standardize_tiles else nn.Identity()
        self.standardize_genomic(cfg, genomic_in)
        self.encoder = GenomicEncoder(genomic_in, cfg.genomic_hidden, cfg.genomic_dim, cfg.dropout)
        self.tokens = GenomicTokens(cfg.genomic_dim, width)
        self.cross_attention = BidirectionalCrossAttention(
            feature_dim, cfg.genomic_dim, cfg.attention_heads, cfg.attention_head_dim, cfg.dropout
        )
        self.pool = GatedAttentionPool(feature_dim, cfg.mil_attention_dim)
        self.head = ClassifierHead(feature_dim, n_classes, cfg.mil_hidden, cfg.dropout)

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        embedding = self.encoder(self.genome(expression))
        fused = self.cross_attention(self.tiles(features, mask), self.tokens(embedding), embedding, mask)
        pooled, attention = self.pool(fused.fused, mask)
        return ModelOutput(
            logits=self.head(pooled),
            attention=attention,
            genomic_to_image=fused.genomic_to_image,
            image_to_genomic=fused.image_to_genomic,
        )


def _batch_of_one(x: Tensor | None) -> Tensor | None:
    return None if x is None else x.unsqueeze(0)


def build_model(
    name: ModelName,
    n_classes: int,
    feature_dim: int,
    n_genes: int,
    cfg: ModelConfig,
    genomic_transform: GenomicTransform | None = None,
    tile_encoder: nn.Module | None = None,
) -> BagClassifier:
    """Build the fusion model or a baseline.

    Args:
        name: ``fusion``, ``image`` (image-only baseline), ``genomic`` (genomic-only baseline), or a linear
            reference (``linear_image``, ``linear_genomic``; see :mod:`leukmodel.models.linear`).
        n_classes: C.
        feature_dim: D, the tile feature size (the tile encoder's output size when fine-tuning layer4).
        n_genes: G, the length of the per-gene expression input.
        cfg: layer sizes.
        genomic_transform: the fold's fitted transform, built in as a frozen layer so the model takes per-gene
            expression. Without it the expression input is taken as already transformed (G features).
        tile_encoder: a module applied to the ``features`` input first (:class:`Layer4Encoder`).
    """
    genomic_input = None if genomic_transform is None else genomic_transform.as_module()
    if genomic_input is not None and genomic_input.in_features != n_genes:
        raise ValueError(f"the genomic transform takes {genomic_input.in_features} genes, not n_genes={n_genes}")
    genomic_in = n_genes if genomic_input is None else genomic_input.out_features
    if name == "fusion":
        return FusionModel(n_classes, feature_dim, genomic_in, cfg, tile_encoder, genomic_input)
    if name == "image":
        return ImageOnlyModel(n_classes, feature_dim, cfg, tile_encoder)
    if name == "genomic":
        return GenomicOnlyModel(n_classes, genomic_in, cfg, genomic_input)
    from leukmodel.models.linear import LinearGenomicModel, LinearImageModel  # they subclass BagClassifier

    if name == "linear_genomic":
        return LinearGenomicModel(n_classes, genomic_in, genomic_input)
    if name == "linear_image":
        return LinearImageModel(n_classes, feature_dim, tile_encoder)
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
