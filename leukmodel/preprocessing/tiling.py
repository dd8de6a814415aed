"""Cutting an image into overlapping square tiles and keeping those that hold cells."""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike

import cv2
import numpy as np

from leukmodel.config.features import TilesConfig
from leukmodel.errors import ImageError
from leukmodel.preprocessing.foreground import NO_FOREGROUND_EXPECTED, NoForegroundError, foreground_mask


@dataclass(frozen=True)
class Tiles:
    """The kept tiles of one image.

    Attributes:
        images: ``(N, P, P, 3)`` uint8 RGB tiles.
        coords: ``(N, 2)`` int64 ``x, y`` of each tile's top-left corner in the original image.
        foreground: ``(N,)`` float32 fraction of each tile's pixels that are foreground.
        image_size: ``(height, width)`` of the original image.
    """

    images: np.ndarray
    coords: np.ndarray
    foreground: np.ndarray
    image_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.images)


def grid_positions(length: int, patch: int, stride: int) -> np.ndarray:
    """Start offsets of tiles along one axis of ``length`` pixels.

    The tiles are spread evenly from edge to edge, so every pixel is covered; their number is the one whose
    step comes closest to ``stride`` without leaving gaps between tiles. A 450-pixel side with 224-pixel tiles
    at stride 112 gives offsets 0, 113 and 226.
    """
    span = length - patch
    if span <= 0:
        return np.zeros(1, dtype=np.int64)
    steps = max(round(span / stride), math.ceil(span / patch))
    return np.linspace(0, span, steps + 1).round().astype(np.int64)


def tile_image(rgb: np.ndarray, tiles: TilesConfig, source: str | PathLike[str] | None = None) -> Tiles:
    """Tile an ``(H, W, 3)`` uint8 RGB image and keep the tiles with enough foreground.

    Tiles are ``tiles.patch_size`` pixels square and overlap by ``tiles.overlap``; a tile is kept when at
    least ``tiles.min_foreground`` of its pixels are foreground (:func:`foreground_mask`). An image smaller
    than a tile is padded at the bottom and right with its background colour (``small_image: pad``) or
    rejected (``small_image: reject``).

    Raises:
        ImageError: the array is not an RGB image, or it is smaller than a tile and ``small_image`` is
            ``reject``. Messages name ``source``.
        NoForegroundError: the image has no foreground, or no tile reaches ``min_foreground``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageError(
            f"array of shape {rgb.shape} and type {rgb.dtype} is not an RGB image",
            file=source,
            expected="(height, width, 3) uint8",
        )
    patch = tiles.patch_size
    height, width = rgb.shape[:2]
    mask = foreground_mask(rgb)
    if not mask.any():
        raise NoForegroundError(
            "no foreground found (blank image or no stained cells)", file=source, expected=NO_FOREGROUND_EXPECTED
        )
    if height < patch or width < patch:
        if tiles.small_image == "reject":
            raise ImageError(
                f"image is {width}x{height} pixels, smaller than a {patch}x{patch} tile",
                file=source,
                expected=f"at least {patch} pixels on each side, or tiles.small_image: pad",
            )
        rgb, mask = _pad(rgb, mask, patch)

    stride = max(1, round(patch * (1.0 - tiles.overlap)))
    ys = grid_positions(rgb.shape[0], patch, stride)
    xs = grid_positions(rgb.shape[1], patch, stride)
    y, x = (grid.ravel() for grid in np.meshgrid(ys, xs, indexing="ij"))
    total = cv2.integral(mask.astype(np.uint8))
    fraction = (total[y + patch, x + patch] - total[y, x + patch] - total[y + patch, x] + total[y, x]) / patch**2
    keep = fraction >= tiles.min_foreground
    if not keep.any() and (height < patch or width < patch) and height * width / patch**2 < tiles.min_foreground:
        raise NoForegroundError(
            f"image is {width}x{height} pixels: padded to a {patch}x{patch} tile, even all-foreground it covers "
            f"{height * width / patch**2:.3f} of the tile, below tiles.min_foreground ({tiles.min_foreground}); "
            f"padding reaches it only from about {math.ceil(patch * math.sqrt(tiles.min_foreground))} px a side",
            file=source,
            expected="a smaller tiles.patch_size or tiles.min_foreground for images this small "
            "(or tiles.on_no_foreground: skip)",
        )
    if not keep.any():
        raise NoForegroundError(
            f"no {patch}x{patch} tile has enough foreground (best {fraction.max():.3f})",
            file=source,
            expected=f"a tile with foreground fraction >= tiles.min_foreground ({tiles.min_foreground}) "
            "(or tiles.on_no_foreground: skip)",
        )
    y, x = y[keep], x[keep]
    images = np.stack([rgb[top : top + patch, left : left + patch] for top, left in zip(y, x, strict=True)])
    return Tiles(
        images=images,
        coords=np.stack([x, y], axis=1).astype(np.int64),
        foreground=fraction[keep].astype(np.float32),
        image_size=(height, width),
    )


def _pad(rgb: np.ndarray, mask: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``rgb`` (with its median background colour) and ``mask`` (with background) to at least a tile."""
    bottom = max(0, patch - rgb.shape[0])
    right = max(0, patch - rgb.shape[1])
    background = rgb[~mask]
    colour = np.median(background, axis=0) if len(background) else np.zeros(3)
    rgb = cv2.copyMakeBorder(rgb, 0, bottom, 0, right, cv2.BORDER_CONSTANT, value=[float(c) for c in colour])
    mask = np.pad(mask, ((0, bottom), (0, right)))
    return rgb, mask
