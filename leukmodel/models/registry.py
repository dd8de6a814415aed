"""The model registry: every model leukmodel trains, by name, and everything the rest of the code knows about it.

An entry names the model's class (which says what the model reads, ``uses_images`` / ``uses_expression``; every
class is built from :class:`~leukmodel.models.fusion.ModelParts`), the explanation figures of its predictions,
whether it is a linear reference (fitted once, cross-validated only: never served, explained nor a version's
score), and the linear references a deep model is tested against. Config validation, the model plan of a
cross-validation, training, explanations, the served model's routing, registration and the CLI all read it. The
order of :data:`MODELS` is the order of preference: the default ``cv.reference`` is the first model run, a served
sample goes to the first served model that reads exactly its modalities, a version is scored by the first deep
model run.

Adding a model is one module (a :class:`~leukmodel.models.fusion.BagClassifier`) and one entry here
(docs/architecture.md, "How to add a model").
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from torch import nn

from leukmodel.config.model import ModelConfig
from leukmodel.genomics.transform import GenomicTransform
from leukmodel.models.fusion import BagClassifier, FusionModel, GenomicOnlyModel, ImageOnlyModel, ModelParts
from leukmodel.models.late_fusion import LateFusionModel
from leukmodel.models.linear import LinearGenomicModel, LinearImageModel


@dataclass(frozen=True)
class ModelEntry:
    """One model of the registry.

    Attributes:
        model: its class (``name``, ``uses_images``, ``uses_expression``; built from :class:`ModelParts`).
        explains: the explanation figures of one of its predictions (:mod:`leukmodel.explain`): ``mil_attention``
            and ``gradcam`` for a model that pools tiles by attention, ``genomic_to_image`` and
            ``image_to_genomic`` for one with cross-attention, ``shap_genes`` for one that reads expression;
            empty for a model that is not explained.
        linear: a linear reference (logistic regression): cross-validated only, not served, not explained, not a
            score.
        linear_references: the linear references a deep model is compared with by McNemar's test.
    """

    model: type[BagClassifier]
    explains: tuple[str, ...] = ()
    linear: bool = False
    linear_references: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def uses_images(self) -> bool:
        return self.model.uses_images

    @property
    def uses_expression(self) -> bool:
        return self.model.uses_expression

    @property
    def deep(self) -> bool:
        """A deep model: trained with early stopping, and the one of its modalities that a served model may hold
        (:func:`served_models`) and that may score a registered version."""
        return not self.linear


_TILES = ("mil_attention", "gradcam")
_CROSS_ATTENTION = ("genomic_to_image", "image_to_genomic")
_GENES = ("shap_genes",)
_ENTRIES = (
    ModelEntry(
        FusionModel, (*_TILES, *_CROSS_ATTENTION, *_GENES), linear_references=("linear_image", "linear_genomic")
    ),
    ModelEntry(LateFusionModel, (*_TILES, *_GENES), linear_references=("linear_image", "linear_genomic")),
    ModelEntry(ImageOnlyModel, _TILES, linear_references=("linear_image",)),
    ModelEntry(GenomicOnlyModel, _GENES, linear_references=("linear_genomic",)),
    ModelEntry(LinearImageModel, linear=True),
    ModelEntry(LinearGenomicModel, linear=True),
)

MODELS: dict[str, ModelEntry] = {entry.name: entry for entry in _ENTRIES}
"""Every model by name, in order of preference (deep models first)."""

_MODALITIES = ((True, True), (True, False), (False, True))
"""(images, expression) of a sample: both, images only, expression only."""


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises:
        ValueError: no model of that name.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[name]


def uses_images(name: str) -> bool:
    return model_entry(name).uses_images


def uses_expression(name: str) -> bool:
    return model_entry(name).uses_expression


def linear_references(name: str) -> tuple[str, ...]:
    """The linear references of the deep model ``name`` (none for a linear reference)."""
    return model_entry(name).linear_references


def deep_models(names: Collection[str] | None = None) -> list[str]:
    """The deep models among ``names`` (default: every model), in registry order."""
    return [m for m, entry in MODELS.items() if entry.deep and (names is None or m in names)]


def served_models(names: Collection[str]) -> list[str]:
    """The models of ``names`` a served model holds: for each combination of modalities, the first deep model of
    ``names`` that reads exactly those (:func:`model_for`), in registry order."""
    chosen = {model_for(images, expression, names) for images, expression in _MODALITIES}
    return [m for m in MODELS if m in chosen]


def model_for(images: bool, expression: bool, among: Collection[str]) -> str | None:
    """The first deep model of ``among`` (in registry order) that reads exactly these modalities, or ``None``."""
    return next(
        (m for m in deep_models(among) if (MODELS[m].uses_images, MODELS[m].uses_expression) == (images, expression)),
        None,
    )


def build_model(
    name: str,
    n_classes: int,
    feature_dim: int,
    n_genes: int,
    cfg: ModelConfig,
    genomic_transform: GenomicTransform | None = None,
    tile_encoder: nn.Module | None = None,
) -> BagClassifier:
    """Build the model ``name`` of the registry.

    Args:
        name: a key of :data:`MODELS`.
        n_classes: C.
        feature_dim: D, the tile feature size (the tile encoder's output size when fine-tuning layer4).
        n_genes: G, the length of the per-gene expression input.
        cfg: layer sizes.
        genomic_transform: the fold's fitted transform, built in as a frozen layer so the model takes per-gene
            expression. Without it the expression input is taken as already transformed (G features).
        tile_encoder: a module applied to the ``features`` input first (:class:`Layer4Encoder`).
    """
    entry = model_entry(name)
    genomic_input = None if genomic_transform is None else genomic_transform.as_module()
    if genomic_input is not None and genomic_input.in_features != n_genes:
        raise ValueError(f"the genomic transform takes {genomic_input.in_features} genes, not n_genes={n_genes}")
    genomic_in = n_genes if genomic_input is None else genomic_input.out_features
    return entry.model(ModelParts(n_classes, feature_dim, genomic_in, cfg, tile_encoder, genomic_input))
