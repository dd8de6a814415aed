"""Figures of one sample's explanation: maps over the original images, the tile x token heatmap, gene bars.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state); save it
with :func:`save_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, LogNorm, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from leukmodel.explain.tiles import BagPixels
from leukmodel.features.bags import Bag

PANEL_INCHES = 3.2
MAX_PANELS_PER_ROW = 4
HEATMAP_ROWS = 12
SHARE_LIMIT = 4
"""Attention maps are clipped at 2**-4 and 2**4 times the uniform share."""


def save_figure(figure: Figure, path: str | PathLike[str], dpi: int = 110) -> Path:
    """Write ``figure`` as a PNG (Agg) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight", format="png")
    return path


def tile_map(
    shape: tuple[int, int], coords: np.ndarray, patch: int, values: Sequence[float | np.ndarray] | np.ndarray
) -> np.ndarray:
    """Per-pixel mean of the values of the tiles covering each pixel (NaN where no tile is).

    ``values`` holds one scalar or one ``(P, P)`` map per tile; ``coords`` the tiles' ``x, y`` top-left corners.
    Parts of tiles beyond the image (padding of small images) are dropped.
    """
    height, width = shape
    total = np.zeros(shape, np.float64)
    count = np.zeros(shape, np.float64)
    for (x, y), value in zip(coords, values, strict=True):
        h, w = min(patch, height - y), min(patch, width - x)
        block = value[:h, :w] if np.ndim(value) == 2 else value
        total[y : y + h, x : x + w] += block
        count[y : y + h, x : x + w] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def uniform_share_overlay(
    pixels: BagPixels,
    bag: Bag,
    shares: np.ndarray,
    *,
    title: str,
    top: int,
) -> Figure:
    """Attention as a multiple of the uniform share (``a_j x N``) over the original images holding the ``top`` tiles.

    The colour is the log2 of the mean share of the tiles covering each pixel: red above uniform, blue below
    (clipped at 1/16 and 16 times), more opaque the further from uniform, so a nearly uniform map leaves the image
    visible. The ``top`` tiles are outlined and numbered by rank; one panel per image, ordered by its best tile.
    """
    order = np.argsort(-shares, kind="stable")
    logs = np.log2(np.clip(shares, 2.0**-SHARE_LIMIT, 2.0**SHARE_LIMIT))
    limit = max(float(np.abs(logs).max()), 0.5)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    colormap = colormaps["RdYlBu_r"]
    figure, axes = _panels(_images_of(bag, order[:top]), title)
    for ax, image in axes:
        rows = np.flatnonzero(bag.image_index == image)
        rgb = pixels.images[image]
        heat = tile_map(rgb.shape[:2], bag.coords[rows], pixels.patch_size, logs[rows])
        ax.imshow(rgb)
        ax.imshow(_rgba(heat, colormap, norm, alpha=0.8 * np.nan_to_num(np.abs(heat)) / limit))
        _outline(ax, bag, order[:top], image, pixels.patch_size)
    bar = figure.colorbar(
        ScalarMappable(norm, colormap), ax=[ax for ax, _ in axes], label="x uniform share (log scale)", shrink=0.8
    )
    ticks = np.arange(-np.floor(limit), np.floor(limit) + 1)
    bar.set_ticks(ticks, labels=[f"{2.0**t:g}" if t >= 0 else f"1/{2.0**-t:g}" for t in ticks])
    return figure


def gradcam_overlay(
    pixels: BagPixels,
    bag: Bag,
    rows: np.ndarray,
    cams: np.ndarray,
    top_rows: np.ndarray,
    *,
    title: str,
) -> Figure:
    """Signed Grad-CAM maps of tiles ``rows`` laid over their original images.

    Red raises the explained class's score, blue lowers it; the maps are divided by their largest absolute value
    (one scale for the whole figure) and the colour is more opaque where they are larger, so the image shows
    through where Grad-CAM is near zero. The tiles ``top_rows`` are outlined and numbered.
    """
    cams = cams / (float(np.abs(cams).max()) or 1.0)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-1.0, vmax=1.0)
    colormap = colormaps["RdBu_r"]
    figure, axes = _panels(_images_of(bag, top_rows), title)
    for ax, image in axes:
        mine = np.flatnonzero(bag.image_index[rows] == image)
        rgb = pixels.images[image]
        heat = tile_map(rgb.shape[:2], bag.coords[rows[mine]], pixels.patch_size, list(cams[mine]))
        ax.imshow(rgb)
        ax.imshow(_rgba(heat, colormap, norm, alpha=0.85 * np.nan_to_num(np.abs(heat))))
        _outline(ax, bag, top_rows, image, pixels.patch_size)
    figure.colorbar(
        ScalarMappable(norm, colormap),
        ax=[ax for ax, _ in axes],
        label="Grad-CAM / max |Grad-CAM|  (red: raises, blue: lowers)",
        shrink=0.8,
    )
    return figure


def image_to_genomic_heatmap(
    pixels: BagPixels, bag: Bag, attention: np.ndarray, order: np.ndarray, *, title: str
) -> Figure:
    """Each tile's attention over the genomic tokens, tiles (with thumbnails) ordered by ``order``.

    ``attention`` is ``(N, T)``, each row summing to 1; it is shown as a multiple of the uniform share ``1/T``
    for at most :data:`HEATMAP_ROWS` tiles.
    """
    rows = order[:HEATMAP_ROWS]
    n_tokens = attention.shape[1]
    values = attention[rows] * n_tokens
    figure = Figure(figsize=(10, 1.3 + 0.5 * len(rows)), layout="constrained")
    grid = figure.add_gridspec(1, 2, width_ratios=[1, 16])
    thumbs, heat = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    thumbs.imshow(np.concatenate(list(pixels.tiles[rows]), axis=0), aspect="auto")
    thumbs.set_xticks([])
    patch = pixels.patch_size
    thumbs.set_yticks([(i + 0.5) * patch for i in range(len(rows))], [f"#{i + 1}" for i in range(len(rows))])
    thumbs.set_ylabel("tiles by MIL attention")
    norm = LogNorm(vmin=max(float(values.min()), 1e-3), vmax=max(float(values.max()), 1e-2))
    image = heat.imshow(values.clip(norm.vmin), aspect="auto", cmap="viridis", norm=norm, interpolation="nearest")
    heat.set_yticks([])
    heat.set_xlabel(f"genomic token (embedding dimension, {n_tokens} in all)")
    heat.set_title(title, fontsize=10)
    figure.colorbar(image, ax=heat, label="attention (x uniform 1/T, log scale)")
    return figure


def gene_bars(table: pd.DataFrame, *, title: str, xlabel: str) -> Figure:
    """Horizontal bars of ``table``'s ``shap`` column, labelled ``symbol (probe)``; red raises, blue lowers.

    With a ``vs_background`` column the labels end in ``↑d`` or ``↓d``: the gene is ``d`` (log2) units above or
    below the SHAP background's mean in this sample.
    """
    figure = Figure(figsize=(6.5, 0.9 + 0.28 * len(table)), layout="constrained")
    ax = figure.add_subplot()
    _bars(ax, table)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    return figure


def class_gene_panels(table: pd.DataFrame, *, title: str) -> Figure:
    """One :func:`gene_bars`-like panel per class of a ``class, probe, symbol, shap`` table."""
    classes = list(dict.fromkeys(table["class"]))
    longest = max((len(g) for _, g in table.groupby("class")), default=1)
    figure = Figure(figsize=(4.2 * len(classes), 1.2 + 0.26 * longest), layout="constrained")
    for i, name in enumerate(classes):
        ax = figure.add_subplot(1, len(classes), i + 1)
        _bars(ax, table[table["class"] == name])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("mean SHAP (log-odds)")
    figure.suptitle(title, fontsize=11)
    return figure


def _bars(ax, table: pd.DataFrame) -> None:
    """Bars of ``shap`` by gene, the first row on top; with ``vs_background``, an arrow says high or low."""
    table = table.iloc[::-1]
    labels = [s if s == p else f"{s} ({p})" for s, p in zip(table["symbol"], table["probe"], strict=True)]
    if "vs_background" in table:
        shifts = [f"{'↑' if d > 0 else '↓'}{abs(d):.1f}" for d in table["vs_background"]]
        labels = [f"{label} {shift}" for label, shift in zip(labels, shifts, strict=True)]
    ax.barh(range(len(table)), table["shap"], color=["#c0392b" if v > 0 else "#2e6fb5" for v in table["shap"]])
    ax.set_yticks(range(len(table)), labels, fontsize=8)
    ax.axvline(0.0, color="black", linewidth=0.8)


def _images_of(bag: Bag, rows: np.ndarray) -> list[int]:
    """The images holding ``rows``, in the order of their first appearance."""
    return list(dict.fromkeys(int(bag.image_index[r]) for r in rows))


def _panels(images: list[int], title: str) -> tuple[Figure, list[tuple[object, int]]]:
    columns = min(len(images), MAX_PANELS_PER_ROW)
    lines = -(-len(images) // columns)
    figure = Figure(figsize=(PANEL_INCHES * columns + 1.2, PANEL_INCHES * lines + 0.5), layout="constrained")
    axes = []
    for i, image in enumerate(images):
        ax = figure.add_subplot(lines, columns, i + 1)
        ax.set_axis_off()
        ax.set_title(f"image {image + 1}", fontsize=9)
        axes.append((ax, image))
    figure.suptitle(title, fontsize=11)
    return figure, axes


def _rgba(values: np.ndarray, colormap: Colormap, norm: Normalize, alpha: np.ndarray) -> np.ndarray:
    rgba = colormap(norm(np.nan_to_num(values)))
    rgba[..., 3] = alpha
    return rgba


def _outline(ax, bag: Bag, rows: np.ndarray, image: int, patch: int) -> None:
    for rank, row in enumerate(rows, 1):
        if int(bag.image_index[row]) != image:
            continue
        x, y = bag.coords[row]
        ax.add_patch(Rectangle((x, y), patch, patch, fill=False, edgecolor="#00e5ff", linewidth=1.5))
        ax.text(x + 3, y + 3, str(rank), color="#00e5ff", fontsize=9, fontweight="bold", va="top")
