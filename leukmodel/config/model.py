"""The genomic transform, the models, training and cross-validation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from leukmodel.config.base import Section


def _registered(name: str) -> str:
    """A model name of the registry. Imported here, when a config is checked: the registry imports the models,
    which read their sizes from this module."""
    from leukmodel.models.registry import model_entry

    return model_entry(name).name


ModelName = Annotated[str, AfterValidator(_registered)]
"""The name of a model of :data:`leukmodel.models.registry.MODELS`."""


class GenomicConfig(Section):
    """log2 -> per-gene z-score -> PCA, fitted on the training part of each fold only."""

    log_transform: Literal["auto", "always", "never"] = "auto"
    n_components: int = Field(500, ge=1)


class ModelConfig(Section):
    """Sizes of the fusion model and its baselines (DESIGN.md section 5).

    ``standardize_tiles``: tile features are standardised per dimension with the statistics of the fold's
    training tiles (frozen in the model) before the image-only and the fusion model see them. A randomly
    initialised ResNet-50 (the offline default) gives features with means near 100 and spreads near 2, on which
    the attention and the classifier barely train; ``false`` feeds features as they are (as CLAM does with
    ImageNet features).
    ``standardize_genomic``: the genomic transform's components are standardised with the statistics of the fold's
    training samples (frozen in the model) before the genomic encoder sees them. ``None`` (the default) leaves the
    choice to the model: on for the genomic-only model, off for the fusion model. Principal components' spreads
    differ by orders of magnitude, and on p >> n expression the MLP fed them raw fitted the leading ones (shared
    noise) and lost to logistic regression (0.46 against 0.87 out-of-fold accuracy; standardised: 0.98); for the
    fusion model on the synthetic cohorts, where the signal lies in the leading components, standardising cut
    accuracy from 1.00 to 0.64 (docs/linear-references.md). ``true`` / ``false`` apply to both.
    ``linear_c``: the inverse L2 strength of the linear references' logistic regression (scikit-learn's ``C``).
    ``tile_dim``: ``None`` (the default, DESIGN.md's model) feeds the standardised tile features at their own size
    (2048 for ResNet-50) to the attention MIL, the cross-attention and the head. An integer d adds a learned
    projection of each tile (Linear D -> d, ReLU, dropout), as CLAM reduces its tile features to 512 first, to
    every model that reads images; the MIL pooling, the residual update and the head then work at d. At
    2048 -> 512 fusion trains 1.6 to 1.9x faster per bag, with 36% fewer parameters (docs/training.md).
    """

    genomic_hidden: list[int] = Field(default_factory=lambda: [500, 256])
    genomic_dim: int = 128
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    attention_heads: int = 4
    attention_head_dim: int = 64
    mil_attention_dim: int = 256
    mil_hidden: int = 512
    standardize_tiles: bool = True
    standardize_genomic: bool | None = None
    linear_c: float = Field(1.0, gt=0.0)
    tile_dim: int | None = Field(None, ge=1)


class TrainingConfig(Section):
    """Optimisation of one model on one fold (AdamW, ``bags_per_step`` bags per step, early stopping on validation
    AUC).

    ``bags_per_step``: 1 (the default) is the seed's protocol, one bag per optimiser step. B > 1 packs B bags
    into one zero-padded batch with a tile mask (padded tiles get no attention; each bag's KL term is over its own
    tiles; the loss is the mean of the bag losses) and scales the learning rate to ``lr * sqrt(B)``; an epoch
    then takes a fraction of the time (docs/benchmarks.md). Validation and test predictions are packed whatever B.
    ``precision``: ``fp32`` (the default), or autocast of the forward passes to ``bf16`` / ``fp16`` (CUDA, with
    a gradient scaler); ``auto`` takes bf16 where the device has it natively, fp16 on other CUDA devices, else
    fp32.

    Early stopping watches the validation macro AUC: an epoch within ``auc_tolerance`` of the best AUC that lowers
    the validation loss by more than ``loss_min_delta`` counts as better (a dozen validation samples cannot
    resolve smaller AUC differences; see :class:`~leukmodel.training.EarlyStopping`). ``refit``: after early
    stopping has chosen the number of epochs, a fresh model is trained for that many epochs on the training and
    validation samples together, so no sample of the fold's training part is left unused (it costs that many
    more epochs). ``None`` (the default) leaves it to the model: on for the genomic-only model (seconds; on p >> n
    expression it raised out-of-fold accuracy, docs/linear-references.md), off for the models that read images
    (it would double their training time, and was not measured to help). ``true`` / ``false`` apply to every deep
    model.
    ``finetune_layer4`` trains the backbone's layer4 end to end from cached layer3 maps (featurize stores them,
    as with ``features.store_layer3``; they are read from the cache per batch) instead of training on cached
    pooled features. ``device``: ``auto`` takes CUDA when available. ``num_threads``: torch's CPU threads while
    a model trains (restored afterwards); one bag per step is too small a problem to gain from more, and on a
    shared machine more threads than free cores slow training many times over. Raise it for ``finetune_layer4``
    on a machine of its own; ``None`` keeps torch's setting.
    """

    lr: float = 1e-4
    weight_decay: float = 1e-5
    max_epochs: int = Field(100, ge=1)
    patience: int = Field(10, ge=1)
    auc_tolerance: float = Field(0.05, ge=0.0)
    loss_min_delta: float = Field(1e-3, ge=0.0)
    max_tiles_per_bag: int = Field(64, ge=1)
    bags_per_step: int = Field(1, ge=1)
    kl_lambda: float = Field(0.01, ge=0.0)
    finetune_layer4: bool = False
    refit: bool | None = None
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    precision: Literal["fp32", "auto", "bf16", "fp16"] = "fp32"
    num_threads: int | None = Field(1, ge=1)


class CVConfig(Section):
    """Stratified, patient-grouped cross-validation and its statistics.

    ``models``: ``None`` (the default) runs every model of the registry the cohort's modalities allow (the deep
    models ``fusion``, ``late_fusion``, ``image``, ``genomic`` and the linear references ``linear_image``,
    ``linear_genomic``; :mod:`leukmodel.models.registry`); the summary names those left out and why. A list runs
    exactly those models, and one the cohort cannot serve is an error.
    ``bootstrap`` resamples give the 95% intervals of every metric; McNemar's test compares ``reference`` (``None``:
    the best model run, fusion where present) with each other model, and each deep model with its linear
    reference. ``save_models`` writes each (model, fold) bundle into the output folder.
    """

    n_folds: int = Field(5, ge=2)
    val_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    models: list[ModelName] | None = Field(None, min_length=1)
    bootstrap: int = Field(1000, ge=0)
    reference: ModelName | None = None
    save_models: bool = True

    @model_validator(mode="after")
    def _reference_among_models(self) -> CVConfig:
        if self.models is None:
            return self
        if len(set(self.models)) < len(self.models):
            raise ValueError(f"cv.models names a model twice: {self.models}")
        if self.reference is not None and self.reference not in self.models:
            raise ValueError(
                f"cv.reference '{self.reference}' is not among cv.models {self.models}: McNemar's tests compare "
                "the reference with each other model, so it must be run too"
            )
        return self
