"""The explanation of one sample by a trained model: attention maps, Grad-CAM, SHAP, their figures and tables.

Files written into the sample's folder (see docs/explain.md)::

    explanation.json        sample, true and predicted class, probabilities, model, fold, figures and captions
    mil_attention.png       MIL attention over the tiles, on the original images       (image models)
    gradcam.png             signed Grad-CAM (layer4) of the images' tiles, on the images (image models)
    genomic_to_image.png    the genomic query's attention over the tiles, on the images (fusion)
    image_to_genomic.png    tiles x genomic tokens attention heatmap                    (fusion)
    shap_genes.png          SHAP of the top genes for the predicted class                (expression models)
    top_tiles.csv           rank, row, image, x, y, mil_attention[, genomic_to_image]
    top_genes.csv           class, rank, probe, symbol, shap, expression, vs_background (top genes of each class)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torchvision

from leukmodel.config import Config
from leukmodel.config.orchestration import ExplainConfig
from leukmodel.data.cohort import Cohort
from leukmodel.device import resolve_device
from leukmodel.errors import CohortError, ConfigError
from leukmodel.explain.artifacts import ArtifactError
from leukmodel.explain.attention import BagAttention, bag_attention
from leukmodel.explain.figures import (
    gene_bars,
    gradcam_overlay,
    image_to_genomic_heatmap,
    save_figure,
    uniform_share_overlay,
)
from leukmodel.explain.genes import GENE_COLUMNS, gene_attributions, top_genes
from leukmodel.explain.gradcam import tile_gradcam
from leukmodel.explain.tiles import BagPixels, bag_pixels
from leukmodel.features.backbone import load_backbone
from leukmodel.features.bags import Bag
from leukmodel.models.fusion import BagClassifier
from leukmodel.models.registry import deep_models, model_entry
from leukmodel.owned import owned_folder
from leukmodel.training.bundle import ModelBundle
from leukmodel.training.splits import make_folds, validation_split
from leukmodel.training.trainer import prepare_items

EXPLANATION_JSON = "explanation.json"
TOP_TILES = "top_tiles.csv"
TOP_GENES = "top_genes.csv"
GRADCAM_BATCH = 16
TILE_COLUMNS = ["rank", "row", "image", "x", "y", "mil_attention"]

CAPTIONS = {
    "mil_attention": (
        "Gated-attention MIL weight of each tile as a multiple of the uniform share 1/N (red: above, blue: below), "
        "over the original images that hold the most-attended tiles (outlined, numbered by rank)."
    ),
    "gradcam": (
        "Grad-CAM on the backbone's layer4 of every tile of these images, for the log-probability of the predicted "
        "class of the whole bag (the other tiles and the expression held fixed), upsampled onto the original "
        "image. Red: raises the class; blue: lowers it."
    ),
    "genomic_to_image": (
        "Genomic -> image cross-attention: which tiles the sample's molecular profile selects (mean over heads, "
        "as a multiple of the uniform share; near-uniform attention leaves the image uncoloured)."
    ),
    "image_to_genomic": (
        "Image -> genomic cross-attention: how each of the most-attended tiles spreads its attention over the "
        "genomic tokens (the dimensions of the genomic embedding)."
    ),
    "shap_genes": (
        "SHAP (expected gradients through the fold's log2 / z-score / PCA layer) of the genes with the largest "
        "effect on the predicted class's logit; background: training samples of the model's fold."
    ),
}


@dataclass
class SampleExplanation:
    """What :func:`explain_sample` found and wrote.

    Attributes:
        sample_id, label: the sample and its true class.
        predicted: the class the model predicts on all tiles of the bag.
        probabilities: class -> probability.
        model: ``fusion``, ``image`` or ``genomic``.
        fold: the cross-validation fold of the model (``None`` for a final model).
        out_dir: the folder holding the files below.
        figures: figure kind (``mil_attention``, ``gradcam``, ``genomic_to_image``, ``image_to_genomic``,
            ``shap_genes``) -> PNG path; only the kinds the model has.
        top_tiles: ``rank, row, image, x, y, mil_attention[, genomic_to_image]`` (empty for genomic-only).
        top_genes: ``class, rank, probe, symbol, shap, expression, vs_background`` (empty for image-only).
        attention: the probabilities and attention maps over all tiles (not written; ``None`` when read back).
        gradcam: ``(rows, maps)``, the bag rows whose Grad-CAM was computed and their ``(P, P)`` maps (not written).
        attributions: ``genes x classes`` SHAP values (not written).
    """

    sample_id: str
    label: str
    predicted: str
    probabilities: dict[str, float]
    model: str
    fold: int | None
    out_dir: Path
    figures: dict[str, Path]
    top_tiles: pd.DataFrame
    top_genes: pd.DataFrame
    attention: BagAttention | None = field(default=None, repr=False)
    gradcam: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    attributions: pd.DataFrame | None = field(default=None, repr=False)

    def write(self) -> Path:
        """Write ``explanation.json`` and the two tables into :attr:`out_dir`."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.top_tiles.to_csv(self.out_dir / TOP_TILES, index=False)
        self.top_genes.to_csv(self.out_dir / TOP_GENES, index=False)
        record = {
            "sample_id": self.sample_id,
            "label": self.label,
            "predicted": self.predicted,
            "probabilities": self.probabilities,
            "model": self.model,
            "fold": self.fold,
            "figures": {kind: path.name for kind, path in self.figures.items()},
            "captions": {kind: CAPTIONS[kind] for kind in self.figures},
        }
        path = self.out_dir / EXPLANATION_JSON
        path.write_text(json.dumps(record, indent=2))
        return path

    @classmethod
    def read(cls, folder: str | PathLike[str]) -> SampleExplanation:
        """Read back what :meth:`write` wrote (without the arrays).

        Raises:
            ArtifactError: the folder holds no ``explanation.json``.
        """
        folder = Path(folder)
        path = folder / EXPLANATION_JSON
        if not path.is_file():
            raise ArtifactError("file not found", file=path, expected="an explanation folder written by explain_sample")
        record: dict[str, Any] = json.loads(path.read_text())
        return cls(
            sample_id=record["sample_id"],
            label=record["label"],
            predicted=record["predicted"],
            probabilities=record["probabilities"],
            model=record["model"],
            fold=record["fold"],
            out_dir=folder,
            figures={kind: folder / name for kind, name in record["figures"].items()},
            top_tiles=pd.read_csv(folder / TOP_TILES),
            top_genes=pd.read_csv(folder / TOP_GENES, dtype={"probe": str, "symbol": str}),
        )


def load_explanation_backbone(config: Config, expected_sha256: str | None = None) -> torchvision.models.ResNet:
    """The backbone of ``config`` (same weights as the features: ImageNet, file or seeded random).

    Raises:
        ConfigError: ``expected_sha256`` (the weights hash recorded with the features or the run, or a prefix of
            it) is not the hash of these weights.
    """
    model, info = load_backbone(config.backbone)
    if expected_sha256 and not info.weights_sha256.startswith(expected_sha256):
        raise ConfigError(
            f"the backbone's weights hash {info.weights_sha256[:16]} is not the one recorded with the features "
            f"({expected_sha256[:16]})",
            field="backbone",
            expected="the backbone the features were computed with (same arch, weights and seed)",
        )
    return model


def explain_sample(
    sample_id: str,
    cohort: Cohort,
    bags: Mapping[str, Bag],
    config: Config,
    bundle: ModelBundle,
    out_dir: str | PathLike[str],
    *,
    backbone: torchvision.models.ResNet | None = None,
    device: str | torch.device | None = None,
) -> SampleExplanation:
    """Explain ``bundle``'s prediction for one sample and write the figures and tables into ``out_dir``.

    ``bundle`` must be the fold model that had the sample in its TEST part (out-of-fold explanation), or a final
    model. SHAP's background is drawn from the training part of that fold (``explain.shap_background``
    profiles, seeded by ``seed``). Grad-CAM explains the predicted class; its backbone is rebuilt from
    ``config.backbone`` unless given (:func:`load_explanation_backbone`).

    Raises:
        CohortError: the sample is not in the cohort, has no bag of tiles, or the bundle's classes or genes are
            not the cohort's.
        ArtifactError: the bundle's fold did not hold the sample in its test part.
        ConfigError: re-tiling the images does not give the bag's tiles.
    """
    by_id = {s.sample_id: s for s in cohort.samples}
    if sample_id not in by_id:
        raise CohortError(f"unknown sample id '{sample_id}'", field="sample", expected=f"one of {len(by_id)} samples")
    _check_bundle(bundle, cohort)
    if not model_entry(bundle.model_name).explains:
        raise ConfigError(
            f"the {bundle.model_name} model is a linear reference: its predictions are not explained",
            field="model",
            expected="one of the deep models " + ", ".join(deep_models()),
        )
    owned = owned_folder(out_dir, f"the explanation of sample {sample_id}")
    train_ids = _training_part(sample_id, cohort, config, bundle.fold)
    device = resolve_device(config.training.device, field="training.device") if device is None else torch.device(device)
    model = bundle.build(device)
    item = prepare_items(cohort, bags, [sample_id], bundle.model_name)[0]
    features = None if item.features is None else item.tiles().to(device)
    expression = None if item.expression is None else item.expression.to(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tiles = genes = None
    if features is not None:
        bag = bags[sample_id]
        backbone = load_explanation_backbone(config) if backbone is None else backbone
        tiles = TileInputs(bag, bag_pixels(bag, config.tiles), backbone, config.explain.top_tiles)
    if expression is not None:
        background = _background(cohort, train_ids, config)
        genes = GeneInputs(
            background.to(device),
            profile=cohort.expression.loc[by_id[sample_id].expression_id],
            reference=pd.Series(background.mean(0).numpy(), index=bundle.genes),
            symbols=cohort.gene_symbols,
            config=config.explain,
            seed=config.seed,
        )
    label = by_id[sample_id].label
    found = explain_bag(
        model,
        features,
        expression,
        cohort.classes,
        bundle.genes,
        out,
        lambda predicted: f"sample {sample_id}: true {label}, predicted {predicted} ({bundle.model_name})",
        tiles=tiles,
        genes=genes,
    )
    explanation = SampleExplanation(
        sample_id=sample_id,
        label=label,
        predicted=found.predicted,
        probabilities=found.probabilities(cohort.classes),
        model=bundle.model_name,
        fold=bundle.fold,
        out_dir=out,
        figures=found.figures,
        top_tiles=found.top_tiles,
        top_genes=found.top_genes,
        attention=found.attention,
        gradcam=found.gradcam,
        attributions=found.attributions,
    )
    explanation.write()
    owned.adopt_all()
    return explanation


@dataclass(frozen=True)
class TileInputs:
    """What the explanations of the tiles need: the bag (coordinates, source images), the pixels of its tiles, the
    backbone that encoded them, how many tiles to list, and whether the table names images by path or file name."""

    bag: Bag
    pixels: BagPixels
    backbone: torchvision.models.ResNet
    top: int
    full_paths: bool = False


@dataclass(frozen=True)
class GeneInputs:
    """What SHAP of the genes needs: the background profiles (rows, on the model's device), the sample's profile
    and the reference its table compares with (per gene), the probes' gene symbols, and ``explain.top_genes`` and
    ``explain.shap_samples`` of ``config``, seeded by ``seed``."""

    background: torch.Tensor
    profile: pd.Series
    reference: pd.Series
    symbols: Mapping[str, str]
    config: ExplainConfig
    seed: int


@dataclass
class BagExplanation:
    """What :func:`explain_bag` found: the model's output, the predicted class, the figures saved by kind, the
    top-tiles and top-genes tables, and the Grad-CAM maps and gene attributions behind them."""

    attention: BagAttention
    predicted: str
    figures: dict[str, Path]
    top_tiles: pd.DataFrame
    top_genes: pd.DataFrame
    gradcam: tuple[np.ndarray, np.ndarray] | None = None
    attributions: pd.DataFrame | None = None

    def probabilities(self, classes: Sequence[str]) -> dict[str, float]:
        return {c: float(p) for c, p in zip(classes, self.attention.probabilities, strict=True)}


def explain_bag(
    model: BagClassifier,
    features: torch.Tensor | None,
    expression: torch.Tensor | None,
    classes: Sequence[str],
    gene_order: list[str],
    out: Path,
    title: Callable[[str], str],
    *,
    tiles: TileInputs | None,
    genes: GeneInputs | None,
) -> BagExplanation:
    """The explanation of one prediction, the one sequence behind a cross-validation's explanations and a served
    prediction's: the model's output and attention maps, then (with ``tiles``) the attention figures, Grad-CAM and
    the table of the most-attended tiles, then (with ``genes``) SHAP of every gene and the top genes of each class
    with the figure of the predicted class's. Figures are saved under ``out``, titled ``title(predicted class)``."""
    attention = bag_attention(model, features, expression)
    predicted = classes[attention.predicted]
    heading = title(predicted)
    found = BagExplanation(
        attention, predicted, {}, pd.DataFrame(columns=TILE_COLUMNS), pd.DataFrame(columns=GENE_COLUMNS)
    )
    if tiles is not None:
        top = np.argsort(-attention.mil, kind="stable")[: tiles.top]
        figures, found.top_tiles, found.gradcam = explain_tiles(
            model,
            tiles.backbone,
            tiles.bag,
            tiles.pixels,
            features,
            expression,
            attention,
            top,
            predicted,
            heading,
            out,
            tiles.full_paths,
        )
        found.figures.update(figures)
    if genes is not None:
        found.attributions = gene_attributions(
            model,
            features,
            expression,
            genes.background,
            gene_order,
            classes,
            n_samples=genes.config.shap_samples,
            seed=genes.seed,
        )
        found.top_genes = top_genes(
            found.attributions, genes.profile, genes.reference, genes.symbols, genes.config.top_genes
        )
        figure = gene_bars(
            found.top_genes[found.top_genes["class"] == predicted],
            title=f"Top genes for {predicted} - {heading}",
            xlabel=f"SHAP value (logit of {predicted})",
        )
        found.figures["shap_genes"] = save_figure(figure, out / "shap_genes.png")
    return found


def explain_tiles(
    model: BagClassifier,
    backbone: torchvision.models.ResNet,
    bag: Bag,
    pixels: BagPixels,
    features: torch.Tensor,
    expression: torch.Tensor | None,
    attention: BagAttention,
    top: np.ndarray,
    predicted: str,
    title: str,
    out: Path,
    full_paths: bool = False,
) -> tuple[dict[str, Path], pd.DataFrame, tuple[np.ndarray, np.ndarray]]:
    """Attention figures, the table of the ``top`` tiles (bag rows, best first) and Grad-CAM, for the predicted
    class (named ``predicted``), of every tile of the images that hold them.

    Returns:
        The figures by kind, the top-tiles table (image paths in full with ``full_paths``, else file names) and
        ``(rows, maps)``: the bag rows that Grad-CAM ran on and their ``(P, P)`` maps.
    """
    figures = attention_figures(pixels, bag, attention, top, title, out)
    rows = np.flatnonzero(np.isin(bag.image_index, bag.image_index[top]))
    chunks = np.array_split(rows, max(1, -(-len(rows) // GRADCAM_BATCH)))
    maps = np.concatenate(
        [
            tile_gradcam(model, backbone, features, expression, pixels.tiles[chunk], chunk, attention.predicted)
            for chunk in chunks
        ]
    )
    figure = gradcam_overlay(pixels, bag, rows, maps, top, title=f"Grad-CAM for {predicted} - {title}")
    figures["gradcam"] = save_figure(figure, out / "gradcam.png")
    return figures, top_tiles_table(bag, attention, top, full_paths), (rows, maps)


def attention_figures(
    pixels: BagPixels, bag: Bag, attention: BagAttention, top: np.ndarray, title: str, out: Path
) -> dict[str, Path]:
    """The MIL attention overlay and, for the fusion model, both cross-attention figures, saved under ``out``."""
    n_tiles = len(bag)
    mil = uniform_share_overlay(pixels, bag, attention.mil * n_tiles, title=f"MIL attention - {title}", top=len(top))
    figures = {"mil_attention": save_figure(mil, out / "mil_attention.png")}
    g2i = attention.genomic_to_image_mean()
    if g2i is not None:
        figure = uniform_share_overlay(
            pixels, bag, g2i * n_tiles, title=f"Genomic -> image attention - {title}", top=len(top)
        )
        figures["genomic_to_image"] = save_figure(figure, out / "genomic_to_image.png")
        order = np.argsort(-attention.mil, kind="stable")
        figure = image_to_genomic_heatmap(
            pixels, bag, attention.image_to_genomic_mean(), order, title=f"Image -> genomic attention - {title}"
        )
        figures["image_to_genomic"] = save_figure(figure, out / "image_to_genomic.png")
    return figures


def top_tiles_table(bag: Bag, attention: BagAttention, top: np.ndarray, full_paths: bool = False) -> pd.DataFrame:
    """One row per tile of ``top`` (bag rows, best first): rank, row, image (file name, or path), x, y, attention."""
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(top) + 1),
            "row": top,
            "image": [
                str(path) if full_paths else path.name for path in (bag.images[int(bag.image_index[r])] for r in top)
            ],
            "x": bag.coords[top, 0],
            "y": bag.coords[top, 1],
            "mil_attention": attention.mil[top],
        }
    )
    g2i = attention.genomic_to_image_mean()
    if g2i is not None:
        table["genomic_to_image"] = g2i[top]
    return table


def _check_bundle(bundle: ModelBundle, cohort: Cohort) -> None:
    if tuple(bundle.classes) != tuple(cohort.classes):
        raise CohortError(
            f"the model's classes {list(bundle.classes)} are not the cohort's {list(cohort.classes)}",
            field="data.classes",
            expected="the cohort the model was trained on",
        )
    if bundle.genes and bundle.genes != cohort.genes:
        raise CohortError(
            f"the model reads {len(bundle.genes)} genes, the cohort has {len(cohort.genes)} in another order or set",
            field="expression columns",
            expected="the expression matrix the model was trained on",
        )


def _training_part(sample_id: str, cohort: Cohort, config: Config, fold: int | None) -> list[str]:
    """The training samples of the model's fold, after checking that the fold tested ``sample_id``."""
    if fold is None:
        return validation_split(cohort, config.cv.val_fraction, config.seed)[0]
    folds = make_folds(cohort, config.cv.n_folds, config.cv.val_fraction, config.seed)
    if sample_id not in folds[fold].test:
        tested = next(f.index for f in folds if sample_id in f.test)
        raise ArtifactError(
            f"sample '{sample_id}' is not in the test part of fold {fold}: that model saw it in training",
            field="sample",
            expected=f"the model of fold {tested}, which tested it (out-of-fold explanation)",
        )
    return list(folds[fold].train)


def _background(cohort: Cohort, train_ids: list[str], config: Config) -> torch.Tensor:
    """At most ``explain.shap_background`` expression profiles of training samples, drawn with ``seed``."""
    ids = sorted(train_ids)
    rng = np.random.default_rng(config.seed)
    chosen = rng.choice(len(ids), min(config.explain.shap_background, len(ids)), replace=False)
    return torch.tensor(cohort.expression_matrix(cohort.subset([ids[i] for i in sorted(chosen)]).samples))
