"""Files to prediction: decode and tile the images, encode the tiles, align the expression, run the right model."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from leukmodel.config import BackboneConfig, FeaturesConfig
from leukmodel.config.model import ModelName
from leukmodel.data.images import decode_rgb
from leukmodel.device import resolve_device
from leukmodel.errors import ConfigError, LeukInputError
from leukmodel.features.device import bf16_supported
from leukmodel.features.extractor import FeatureExtractor
from leukmodel.models.fusion import BagClassifier
from leukmodel.models.registry import model_for
from leukmodel.preprocessing import NoForegroundError, tile_image
from leukmodel.serving.expression import AlignedExpression, align_expression, training_means
from leukmodel.serving.inputs import ImageInput, SampleInput
from leukmodel.serving.prediction import EncodedBag, Prediction
from leukmodel.serving.spec import BACKBONE_KEY, SPEC_KEY, ServingSpec
from leukmodel.training.bundle import ModelBundle
from leukmodel.training.packing import pack, prediction_batches


class Predictor:
    """A served model in memory: the backbone, the tiling and the trained models, loaded once and reused.

    Each sample goes to the served model that reads exactly its modalities (:func:`~leukmodel.models.registry.
    model_for`): with images and expression the fusion model (or the late-fusion model where it was served
    instead), with images only the image-only model, with expression only the genomic-only model; the prediction
    says which, and which modality was missing.

    Attributes:
        spec, bundles: as given; ``models`` holds the built models, ``extractor`` the backbone.
        backbone_weights: the backbone state dict file (explanations rebuild the plain backbone from it).
        precision: the backbone's precision here (the training precision, fp32 where bf16 is not native).

    Args:
        spec: the served model's record (``serving.json``).
        bundles: the trained models by name (those listed in ``spec.models``).
        backbone_weights: the bundled backbone state dict; its SHA-256 must be the one in ``spec``.
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        ConfigError: the backbone weights are not the ones the models were trained with, or the device is not
            available.
    """

    def __init__(
        self,
        spec: ServingSpec,
        bundles: Mapping[str, ModelBundle],
        backbone_weights: str | PathLike[str],
        device: str = "auto",
    ) -> None:
        self.spec = spec
        self.device = resolve_device(device, field="device")
        self.precision = spec.precision if spec.precision == "fp32" or bf16_supported(self.device) else "fp32"
        self.tiles = spec.tiles_config
        self.backbone_weights = Path(backbone_weights)
        backbone = BackboneConfig(arch=spec.backbone["arch"], weights=self.backbone_weights)
        features = FeaturesConfig(device=str(self.device), precision=self.precision, batch_size=spec.batch_size)
        self.extractor = FeatureExtractor(backbone, features)
        if self.extractor.info.weights_sha256 != spec.backbone["weights_sha256"]:
            raise ConfigError(
                f"backbone weights have SHA-256 {self.extractor.info.weights_sha256[:16]}..., the models were trained "
                f"on features of {spec.backbone['weights_sha256'][:16]}...",
                file=backbone_weights,
                expected="the backbone weights logged with the model",
            )
        self.bundles = {name: bundles[name] for name in spec.models}
        self.models: dict[str, BagClassifier] = {name: b.build(self.device) for name, b in self.bundles.items()}
        self._layer3 = any(b.run_config.training.finetune_layer4 for b in self.bundles.values() if b.feature_dim)

    @classmethod
    def from_artifacts(cls, artifacts: Mapping[str, str | PathLike[str]], device: str = "auto") -> Predictor:
        """Load from the files of a logged model (``context.artifacts`` of the pyfunc, see :mod:`.spec`)."""
        spec = ServingSpec.load(artifacts[SPEC_KEY])
        bundles = {name: ModelBundle.load(artifacts[name]) for name in spec.models}
        return cls(spec, bundles, artifacts[BACKBONE_KEY], device)

    def warm_up(self) -> None:
        """Run one batch through the backbone so the first request does not pay for kernel selection."""
        size = self.tiles.patch_size
        self.extractor.extract(np.zeros((self.extractor.batch_size, size, size, 3), np.uint8), layer3=self._layer3)

    def predict(self, sample: SampleInput, *, impute_missing: bool = False) -> Prediction:
        """Predict one sample with the model its modalities allow.

        Raises:
            LeukInputError: the model needed for the sample's modalities is not part of the served model.
            ImageError: an image cannot be decoded (named), or no image of the sample has a foreground tile.
            ExpressionError: the expression does not fit the model's genes (see
                :func:`~leukmodel.serving.expression.align_expression`).
        """
        return self.predict_many([sample], impute_missing=impute_missing)[0]

    def predict_many(self, samples: Sequence[SampleInput], *, impute_missing: bool = False) -> list[Prediction]:
        """Predict each sample with the model its modalities allow; the samples of one model run as packed batches
        (:func:`~leukmodel.training.packing.prediction_batches`), each one's model time its share of its batch.

        Raises:
            as :meth:`predict`, for the first sample that fails.
        """
        inputs = [self._inputs(sample, impute_missing) for sample in samples]
        predictions: list[Prediction | None] = [None] * len(inputs)
        for name, model in self.models.items():
            group = [k for k, x in enumerate(inputs) if x.model == name]
            sizes = [() if inputs[k].bag is None else inputs[k].bag.features.shape for k in group]
            for part in prediction_batches(sizes):
                chosen = [inputs[k] for k in group[part]]
                start = time.perf_counter()
                batch = pack(
                    [None if x.bag is None else torch.from_numpy(x.bag.features) for x in chosen],
                    [None if x.aligned is None else torch.from_numpy(x.aligned.values) for x in chosen],
                    None,
                    self.device,
                )
                with torch.inference_mode():
                    output = model.forward_packed(batch.features, batch.expression, batch.mask)
                    probabilities = output.logits.float().softmax(-1).cpu().numpy()
                    attention = None if output.attention is None else output.attention.float().cpu().numpy()
                share = (time.perf_counter() - start) / len(chosen)
                for j, (k, x) in enumerate(zip(group[part], chosen, strict=True)):
                    x.seconds["model"] = share
                    tiles = np.zeros(0, np.float32) if attention is None else attention[j, : len(x.bag.features)]
                    predictions[k] = self._prediction(x, probabilities[j], tiles)
        return predictions

    def _inputs(self, sample: SampleInput, impute_missing: bool) -> _ModelInputs:
        """Route the sample, encode its images and align its expression."""
        row = sample.sample_id
        name, missing = _route(sample, list(self.models))
        bundle, model = self.bundles[name], self.models[name]
        inputs = _ModelInputs(row, name, missing)
        if model.uses_images:
            inputs.bag = self.encode(sample.images, row=row, seconds=inputs.seconds)
        if model.uses_expression:
            inputs.aligned = align_expression(
                sample.expression,
                bundle.genes,
                means=training_means(bundle.genomic_transform),
                impute=impute_missing,
                log_applied=bundle.genomic_transform.log_applied_,
                row=row,
                cohort=f"cohort '{self.spec.cohort}'",
            )
        return inputs

    def _prediction(self, inputs: _ModelInputs, probabilities: np.ndarray, attention: np.ndarray) -> Prediction:
        return Prediction(
            sample_id=inputs.sample_id,
            model=inputs.model,
            missing_modality=inputs.missing,
            classes=tuple(self.spec.classes),
            probabilities=probabilities,
            attention=attention,
            bag=inputs.bag,
            expression=None if inputs.aligned is None else inputs.aligned.values,
            imputed_genes=[] if inputs.aligned is None else inputs.aligned.imputed,
            tags=dict(self.spec.tags),
            precision=self.precision if inputs.bag is not None else None,
            seconds=inputs.seconds,
        )

    def encode(
        self, images: tuple[ImageInput, ...], *, row: str | None = None, seconds: dict[str, float] | None = None
    ) -> EncodedBag:
        """Decode and tile ``images`` as training did, and encode the tiles with the backbone.

        Raises:
            ImageError: an image cannot be decoded, is too small with ``small_image: reject``, or has no
                foreground with ``on_no_foreground: error``; or no image has a foreground tile.
        """
        start = time.perf_counter()
        parts, skipped = [], {}
        for k, image in enumerate(images):
            try:
                tiles = tile_image(decode_rgb(image.data, source=image.name), self.tiles, image.name)
            except NoForegroundError as exc:
                if self.tiles.on_no_foreground == "error":
                    raise _with_row(exc, row) from None
                skipped[image.name] = exc.problem
                continue
            except LeukInputError as exc:
                raise _with_row(exc, row) from None
            parts.append((k, tiles))
        if not parts:
            raise NoForegroundError(
                f"none of the sample's {len(images)} image(s) has a foreground tile",
                row=row,
                field="images",
                expected="at least one image with stained cells",
            )
        tiles = np.concatenate([t.images for _, t in parts])
        middle = time.perf_counter()
        pooled, maps = self.extractor.extract(tiles, layer3=self._layer3)
        if seconds is not None:
            seconds["read_tile"] = middle - start
            seconds["features"] = time.perf_counter() - middle
        return EncodedBag(
            tiles=tiles,
            features=maps if self._layer3 else pooled,
            coords=np.concatenate([t.coords for _, t in parts]),
            image_index=np.concatenate([np.full(len(t), k, np.int64) for k, t in parts]),
            images=tuple(image.name for image in images),
            skipped=skipped,
        )


@dataclass
class _ModelInputs:
    """What the model of one sample reads: its encoded bag and/or aligned expression."""

    sample_id: str
    model: ModelName
    missing: str | None
    bag: EncodedBag | None = None
    aligned: AlignedExpression | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def _route(sample: SampleInput, served: list[str]) -> tuple[ModelName, str | None]:
    """The served model for the sample's modalities, and the missing modality (``None`` when both are there)."""
    images, expression = bool(sample.images), sample.expression is not None
    if not images and not expression:
        raise LeukInputError(
            "neither images nor expression given", row=sample.sample_id, expected="images, expression or both"
        )
    missing = None if images and expression else "expression" if images else "images"
    name = model_for(images, expression, served)
    if name is None:
        reads = {None: "images and expression", "expression": "images only", "images": "expression only"}[missing]
        raise LeukInputError(
            f"the sample needs a model that reads {reads}, the served model has {', '.join(served)}",
            row=sample.sample_id,
            expected="both modalities" if missing else "a model logged with a model that reads both modalities",
        )
    return name, missing


def _with_row(exc: LeukInputError, row: str | None) -> LeukInputError:
    """The same error, naming the request's sample too."""
    if row is None or exc.row is not None:
        return exc
    return type(exc)(exc.problem, file=exc.file, row=row, field=exc.field, expected=exc.expected)
