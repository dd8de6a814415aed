"""Training one model on one fold: the fold-fitted genomic transform, the loop, early stopping, test predictions."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from leukmodel.config.model import ModelName
from leukmodel.config.root import Config
from leukmodel.data.cohort import Cohort
from leukmodel.device import resolve_device
from leukmodel.errors import CohortError, ConfigError
from leukmodel.evaluation.metrics import classification_metrics
from leukmodel.features.streamed import StreamedMaps
from leukmodel.genomics.transform import GenomicTransform
from leukmodel.models.fusion import BagClassifier
from leukmodel.models.linear import LinearClassifier
from leukmodel.models.loss import mil_loss
from leukmodel.models.registry import build_model, uses_expression, uses_images
from leukmodel.models.tile_encoder import Layer4Encoder
from leukmodel.models.tile_norm import FeatureStandardizer
from leukmodel.training.early_stopping import EarlyStopping
from leukmodel.training.linear import fit_linear
from leukmodel.training.packing import pack, prediction_batches
from leukmodel.training.plan import check_modalities
from leukmodel.training.precision import autocast, autocast_dtype, grad_scaler
from leukmodel.training.seeding import seed_everything, torch_threads, trial_seed
from leukmodel.training.splits import make_folds

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after every epoch with the epoch index and its record (train_loss, val_loss, val_auc, val_accuracy)."""


class FeatureBag(Protocol):
    """What training reads from a bag: ``features`` (N, D) pooled, or (N, C, h, w) layer3 maps (in memory, or
    :class:`~leukmodel.features.streamed.StreamedMaps` read from the cache per batch)."""

    features: Any


@dataclass
class BagItem:
    """One sample as tensors: its tile features and/or raw per-gene expression, and its label index.

    ``features`` may be streamed layer3 maps: :meth:`tiles` reads them when a batch needs them.
    """

    sample_id: str
    features: Tensor | StreamedMaps | None
    expression: Tensor | None
    label: int

    def tiles(self, rows: np.ndarray | None = None) -> Tensor | None:
        """The tile features of bag rows ``rows`` (increasing; all when ``None``) as a tensor."""
        if self.features is None:
            return None
        if isinstance(self.features, StreamedMaps):
            return torch.from_numpy(self.features.read(rows))
        return self.features if rows is None else self.features[torch.from_numpy(rows)]


@dataclass
class TrainedModel:
    """A model with its best weights restored, and how it got there."""

    model: BagClassifier
    genomic_transform: GenomicTransform | None
    feature_dim: int
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float


@dataclass
class TrialResult:
    """One (model, fold) trial. Picklable: Ray sends it back from its workers.

    Attributes:
        model_name, fold, seed: what was trained, on which fold, with which seed.
        classes: the output order of the model.
        predictions: the test fold, one row per sample: ``sample_id, patient_id, fold, model, y_true, y_pred``
            (class names) and ``prob_<class>`` per class.
        history: one record per epoch (``epoch, train_loss, val_loss, val_auc, val_accuracy``).
        best_epoch: the epoch whose weights were restored (see :class:`EarlyStopping`).
        inference_seconds_per_slide: mean model time per test bag (cached features -> prediction).
        train_seconds: wall time of training.
        genomic_transform: fitted on the fold's training samples (``None`` for the image-only model).
        state_dict: the restored weights, on the CPU.
        feature_dim: the tile feature size the model takes after its tile encoder (0 for genomic-only).
        genes: the per-gene input order (empty for image-only).
        device: where it trained.
    """

    model_name: ModelName
    fold: int
    seed: int
    classes: tuple[str, ...]
    predictions: pd.DataFrame
    history: list[dict[str, float]]
    best_epoch: int
    inference_seconds_per_slide: float
    train_seconds: float
    genomic_transform: GenomicTransform | None
    state_dict: dict[str, Tensor] = field(repr=False)
    feature_dim: int
    genes: list[str]
    device: str


def run_trial(
    model_name: ModelName,
    fold_index: int,
    cohort: Cohort,
    bags: dict[str, FeatureBag],
    config: Config,
    on_epoch: EpochCallback | None = None,
) -> TrialResult:
    """Train ``model_name`` on fold ``fold_index`` of ``cohort`` and predict its test samples.

    The folds are recomputed from ``config`` (deterministic), so a worker needs only the fold index. The genomic
    transform is fitted on the fold's training samples, the validation samples only stop training early, and
    the test samples are seen once, by the restored best model.
    """
    folds = make_folds(cohort, config.cv.n_folds, config.cv.val_fraction, config.seed)
    if not 0 <= fold_index < len(folds):
        raise ConfigError(f"fold {fold_index} does not exist", field="cv.n_folds", expected=f"0..{len(folds) - 1}")
    fold = folds[fold_index]
    seed = trial_seed(config.seed, fold_index)
    device = resolve_device(config.training.device, field="training.device")
    trained = train_model(model_name, cohort, bags, config, fold.train, fold.val, seed, on_epoch)
    test = prepare_items(cohort, bags, fold.test, model_name)
    with torch_threads(config.training.num_threads):
        prob, seconds = predict(trained.model, test, device, autocast_dtype(config.training.precision, device))
    logger.info(
        "%s fold %d: best epoch %d of %d, %.1f s",
        model_name,
        fold_index,
        trained.best_epoch,
        len(trained.history),
        trained.seconds,
    )
    return TrialResult(
        model_name=model_name,
        fold=fold_index,
        seed=seed,
        classes=cohort.classes,
        predictions=predictions_frame(cohort, fold.test, prob, model_name, fold_index),
        history=trained.history,
        best_epoch=trained.best_epoch,
        inference_seconds_per_slide=seconds,
        train_seconds=trained.seconds,
        genomic_transform=trained.genomic_transform,
        state_dict={k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items()},
        feature_dim=trained.feature_dim,
        genes=cohort.genes if uses_expression(model_name) else [],
        device=str(device),
    )


def train_model(
    model_name: ModelName,
    cohort: Cohort,
    bags: dict[str, FeatureBag],
    config: Config,
    train_ids: Sequence[str],
    val_ids: Sequence[str],
    seed: int,
    on_epoch: EpochCallback | None = None,
) -> TrainedModel:
    """Fit the genomic transform and the tile standardisation on ``train_ids``, then train with early stopping
    on ``val_ids``; with ``training.refit`` (or the model's default), train a fresh model on both for the chosen
    number of epochs (:func:`refit`). A linear reference is fitted once on both
    (:func:`~leukmodel.training.linear.fit_linear`)."""
    check_modalities(model_name, cohort)
    device = resolve_device(config.training.device, field="training.device")
    rng = seed_everything(seed)
    transform = None
    if uses_expression(model_name):
        rows = [s.expression_id for s in cohort.subset(list(train_ids)).samples]
        transform = GenomicTransform(config.genomic.log_transform, config.genomic.n_components)
        transform.fit(cohort.expression.loc[rows])
    train = prepare_items(cohort, bags, train_ids, model_name)
    val = prepare_items(cohort, bags, val_ids, model_name)
    model, feature_dim = make_model(model_name, cohort, train, config, transform)
    model.to(device)
    start = time.perf_counter()
    with torch_threads(config.training.num_threads):
        fit_standardizers(model, train, device)
        if isinstance(model, LinearClassifier):
            history, best_epoch = fit_linear(model, [*train, *val], config.model.linear_c, device), 0
        else:
            history, best_epoch = fit(model, train, val, config, device, rng, on_epoch)
            refits = model.refit_default if config.training.refit is None else config.training.refit
            if refits and val:
                model = refit(model_name, cohort, [*train, *val], config, transform, best_epoch + 1, seed, device)
    return TrainedModel(model, transform, feature_dim, history, best_epoch, time.perf_counter() - start)


def refit(
    model_name: ModelName,
    cohort: Cohort,
    items: Sequence[BagItem],
    config: Config,
    transform: GenomicTransform | None,
    epochs: int,
    seed: int,
    device: torch.device,
) -> BagClassifier:
    """A fresh model trained on ``items`` (the fold's training and validation samples) for ``epochs`` epochs.

    Early stopping needs samples the model never trains on; on a small cohort they are a fifth of the training
    data. Once it has chosen the number of epochs, the refit uses them too. The genomic transform stays the one
    fitted on the training samples; the tile standardisation is fitted on ``items``.
    """
    rng = seed_everything(seed)
    model, _ = make_model(model_name, cohort, items, config, transform)
    model.to(device)
    fit_standardizers(model, items, device)
    fixed = config.training.model_copy(update={"max_epochs": epochs})
    fit(model, items, [], config.model_copy(update={"training": fixed}), device, rng)
    return model


def make_model(
    model_name: ModelName,
    cohort: Cohort,
    items: Sequence[BagItem],
    config: Config,
    transform: GenomicTransform | None,
) -> tuple[BagClassifier, int]:
    """The model for ``items``' feature level: pooled features, or layer3 maps with a trainable layer4."""
    tile_encoder = None
    feature_dim = 0
    if uses_images(model_name):
        features = items[0].features
        if config.training.finetune_layer4:
            if features.ndim != 4:
                raise ConfigError(
                    f"training.finetune_layer4 needs layer3 maps, the bags hold features of shape "
                    f"{tuple(features.shape)}",
                    field="training.finetune_layer4",
                    expected="bags loaded with level='layer3' (features.store_layer3: true)",
                )
            tile_encoder, feature_dim = layer4_encoder(config, pretrained=True)
        elif features.ndim != 2:
            raise ConfigError(
                f"bags hold features of shape {tuple(features.shape)}",
                field="training.finetune_layer4",
                expected="pooled (N, D) features, or finetune_layer4: true for layer3 maps",
            )
        else:
            feature_dim = int(features.shape[1])
    model = build_model(
        model_name, len(cohort.classes), feature_dim, len(cohort.genes), config.model, transform, tile_encoder
    )
    return model, feature_dim


def layer4_encoder(config: Config, pretrained: bool) -> tuple[Layer4Encoder, int]:
    """The backbone's layer4 as a trainable tile encoder, and its output size.

    ``pretrained=False`` builds the architecture only (its weights come from a saved state dict).
    """
    from leukmodel.features.backbone import load_backbone

    backbone = config.backbone if pretrained else config.backbone.model_copy(update={"weights": "none"})
    resnet, info = load_backbone(backbone)
    return Layer4Encoder(copy.deepcopy(resnet.layer4)), int(info.feature_dim)


def fit_standardizers(model: BagClassifier, items: Sequence[BagItem], device: torch.device) -> None:
    """Fit the model's tile standardisation on every tile of the training bags ``items`` (after the tile encoder,
    as it is before training; streamed in prediction-sized chunks so memory stays bounded) and its genomic
    standardisation on their transformed expression."""
    model.eval()
    if isinstance(getattr(model, "tile_norm", None), FeatureStandardizer):
        sizes = [tuple(item.features.shape) for item in items]

        def encoded() -> Iterator[Tensor]:
            for part in prediction_batches(sizes):
                with torch.inference_mode():
                    tiles = torch.cat([_to(item.tiles(), device) for item in items[part]])
                    yield model.encode_tiles(tiles).float().cpu()

        model.tile_norm.fit(encoded())
    if isinstance(model.genomic_norm, FeatureStandardizer):
        with torch.inference_mode():
            projected = torch.stack(
                [model.project_genome(_to(item.expression, device)).float().cpu() for item in items]
            )
        model.genomic_norm.fit(projected)


def prepare_items(
    cohort: Cohort, bags: dict[str, FeatureBag], sample_ids: Sequence[str], model_name: ModelName
) -> list[BagItem]:
    """Tensors of the samples ``sample_ids`` holding what ``model_name`` reads."""
    by_id = {s.sample_id: s for s in cohort.samples}
    index = {c: i for i, c in enumerate(cohort.classes)}
    items = []
    for sid in sample_ids:
        sample = by_id[sid]
        features = expression = None
        if uses_images(model_name):
            if sid not in bags:
                skipped = getattr(bags, "skipped", {})
                if sid in skipped:
                    raise CohortError(
                        f"sample '{sid}' (patient '{sample.patient_id}') has no foreground tile in any image: "
                        f"{skipped[sid]}",
                        file=sample.images[0] if sample.images else None,
                        expected=f"a tile in at least one image of each sample for the {model_name} model "
                        "(leave the sample out of the cohort, or run only models without images)",
                    )
                raise CohortError(
                    f"sample '{sid}' has no feature bag", expected="a bag for every sample (run featurize first)"
                )
            features = bags[sid].features
            if not isinstance(features, StreamedMaps):
                features = torch.as_tensor(np.asarray(features))
            if features.shape[0] == 0:
                raise CohortError("the sample's bag has no tiles", row=sid, expected="at least one foreground tile")
        if uses_expression(model_name):
            expression = torch.tensor(cohort.expression.loc[sample.expression_id].to_numpy(dtype=np.float32))
        items.append(BagItem(sid, features, expression, index[sample.label]))
    return items


def fit(
    model: BagClassifier,
    train: Sequence[BagItem],
    val: Sequence[BagItem],
    config: Config,
    device: torch.device,
    rng: np.random.Generator,
    on_epoch: EpochCallback | None = None,
) -> tuple[list[dict[str, float]], int]:
    """AdamW on ``bags_per_step`` packed bags per step, at most ``max_tiles_per_bag`` tiles drawn per bag and epoch.

    The learning rate is ``lr * sqrt(bags_per_step)`` (the square-root rule for Adam: one step on the mean of B
    bag losses has 1/sqrt(B) of the gradient noise of one bag, and an epoch has 1/B of the steps). Early stopping
    on validation macro AUC (:class:`EarlyStopping`: AUCs within ``auc_tolerance`` of the best are ties, decided
    by the validation loss); the best epoch's weights are restored into ``model``. Without ``val``, all
    ``max_epochs`` epochs run and the last weights stay. Returns the per-epoch history and the best epoch.
    """
    tcfg = config.training
    params = [p for p in model.parameters() if p.requires_grad]
    lr = tcfg.lr * tcfg.bags_per_step**0.5
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=tcfg.weight_decay, fused=True)
    dtype = autocast_dtype(tcfg.precision, device)
    scaler = grad_scaler(device, dtype)
    history: list[dict[str, float]] = []
    stopping = EarlyStopping(tcfg.patience, tcfg.auc_tolerance, tcfg.loss_min_delta)
    best_state = copy.deepcopy(model.state_dict())
    for epoch in range(tcfg.max_epochs):
        model.train()
        order = rng.permutation(len(train))
        loss_sum = 0.0
        for start in range(0, len(order), tcfg.bags_per_step):
            chosen = [train[i] for i in order[start : start + tcfg.bags_per_step]]
            features = [_draw_tiles(item, tcfg.max_tiles_per_bag, rng) for item in chosen]
            batch = pack(features, [item.expression for item in chosen], [item.label for item in chosen], device)
            with autocast(device, dtype):
                output = model.forward_packed(batch.features, batch.expression, batch.mask)
                loss = mil_loss(output, batch.labels, tcfg.kl_lambda, batch.mask)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.item() * len(batch)
        prob, _ = predict(model, val, device, dtype)
        record = {"epoch": float(epoch), "train_loss": loss_sum / max(len(train), 1)}
        record.update(_validation(prob, val, model.n_classes))
        history.append(record)
        if on_epoch is not None:
            on_epoch(epoch, record)
        if not val:
            continue
        if stopping.step(epoch, record["val_auc"], record["val_loss"]):
            best_state = copy.deepcopy(model.state_dict())
        if stopping.should_stop:
            break
    if not val:
        return history, len(history) - 1
    model.load_state_dict(best_state)
    return history, max(stopping.best_epoch, 0)


@torch.inference_mode()
def predict(
    model: BagClassifier, items: Sequence[BagItem], device: torch.device, dtype: torch.dtype | None = None
) -> tuple[np.ndarray, float]:
    """Class probabilities (n, C) on all tiles of each bag, in packed batches (:func:`prediction_batches`) under
    autocast to ``dtype`` (``None``: fp32), and the mean seconds per bag."""
    model.eval()
    if not items:
        return np.zeros((0, 0)), 0.0
    probs, seconds = [], 0.0
    sizes = [() if item.features is None else tuple(item.features.shape) for item in items]
    for part in prediction_batches(sizes):
        chosen = items[part]
        start = time.perf_counter()
        batch = pack([i.tiles() for i in chosen], [i.expression for i in chosen], [i.label for i in chosen], device)
        with autocast(device, dtype):
            logits = model.forward_packed(batch.features, batch.expression, batch.mask).logits
        probs.append(logits.float().softmax(-1).cpu().numpy())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - start
    return np.concatenate(probs), seconds / len(items)


def predictions_frame(
    cohort: Cohort, sample_ids: Sequence[str], prob: np.ndarray, model_name: str, fold: int | None
) -> pd.DataFrame:
    """The predictions table: ``sample_id, patient_id, fold, model, y_true, y_pred, prob_<class>...``."""
    by_id = {s.sample_id: s for s in cohort.samples}
    classes = list(cohort.classes)
    frame = pd.DataFrame(
        {
            "sample_id": list(sample_ids),
            "patient_id": [by_id[s].patient_id for s in sample_ids],
            "fold": fold,
            "model": model_name,
            "y_true": [by_id[s].label for s in sample_ids],
            "y_pred": [classes[k] for k in prob.argmax(axis=1)] if len(prob) else [],
        }
    )
    for k, name in enumerate(classes):
        frame[f"prob_{name}"] = prob[:, k] if len(prob) else []
    return frame


def _validation(prob: np.ndarray, items: Sequence[BagItem], n_classes: int) -> dict[str, float]:
    if not items:
        return {"val_loss": float("nan"), "val_auc": float("nan"), "val_accuracy": float("nan")}
    labels = np.array([item.label for item in items])
    loss = float(-np.mean(np.log(np.clip(prob[np.arange(len(labels)), labels], 1e-12, None))))
    metrics = classification_metrics(labels, prob, [str(k) for k in range(n_classes)], n_bootstrap=0)
    return {"val_loss": loss, "val_auc": metrics.values["macro_auc"], "val_accuracy": metrics.values["accuracy"]}


def _draw_tiles(item: BagItem, limit: int, rng: np.random.Generator) -> Tensor | None:
    """At most ``limit`` tiles of the bag, drawn without replacement (only those are read when streamed)."""
    if item.features is None or item.features.shape[0] <= limit:
        return item.tiles()
    return item.tiles(np.sort(rng.choice(item.features.shape[0], limit, replace=False)))


def _to(tensor: Tensor | None, device: torch.device) -> Tensor | None:
    if tensor is None:
        return None
    tensor = tensor.to(device, non_blocking=True)
    return tensor.float() if tensor.dtype == torch.float64 else tensor
