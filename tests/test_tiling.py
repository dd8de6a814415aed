"""Tiles: an even grid that covers the image, coordinates in the original image, and the foreground filter."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from leukmodel.config import TilesConfig
from leukmodel.data.images import read_rgb
from leukmodel.errors import ImageError
from leukmodel.preprocessing import NoForegroundError, foreground_mask, grid_positions, tile_image


def test_grid_of_a_cnmc_image():
    assert grid_positions(450, 224, 112).tolist() == [0, 113, 226]
    assert grid_positions(224, 224, 112).tolist() == [0]
    assert grid_positions(100, 224, 112).tolist() == [0]


@pytest.mark.parametrize("length", [224, 225, 300, 450, 513, 1000, 2048])
@pytest.mark.parametrize(("patch", "stride"), [(64, 32), (64, 64), (224, 112), (224, 168)])
def test_grid_covers_every_pixel_with_a_step_near_the_stride(length, patch, stride):
    starts = grid_positions(length, patch, stride)
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start : start + patch] = True
    assert covered.all() and starts[0] == 0 and starts[-1] + patch == length
    assert (np.diff(starts) <= min(patch, 1.5 * stride)).all()  # overlap never far below the configured one
    assert len(starts) <= math.ceil((length - patch) / stride) + 1  # and no more tiles than a plain grid


def test_real_cnmc_every_kept_tile_overlaps_the_cell(cnmc_sample):
    for path in sorted(cnmc_sample.glob("*/*.bmp")):
        rgb = read_rgb(path)
        tiles = tile_image(rgb, TilesConfig(), source=path)
        cell = rgb.max(axis=2) > 16
        assert 1 <= len(tiles) <= 9
        assert tiles.images.shape[1:] == (224, 224, 3) and tiles.coords.dtype == np.int64
        for (x, y), tile, fraction in zip(tiles.coords, tiles.images, tiles.foreground, strict=True):
            np.testing.assert_array_equal(tile, rgb[y : y + 224, x : x + 224])
            assert fraction >= 0.1
            assert cell[y : y + 224, x : x + 224].mean() >= 0.1


def test_foreground_threshold_drops_tiles(cnmc_sample):
    rgb = read_rgb(cnmc_sample / "all" / "UID_1_9_1_all.bmp")
    mask = foreground_mask(rgb)
    counts = []
    for threshold in (0.0, 0.2, 0.5):
        tiles = tile_image(rgb, TilesConfig(patch_size=112, overlap=0.5, min_foreground=threshold))
        assert (tiles.foreground >= threshold).all()
        for (x, y), fraction in zip(tiles.coords, tiles.foreground, strict=True):
            assert fraction == pytest.approx(mask[y : y + 112, x : x + 112].mean(), abs=1e-6)
        counts.append(len(tiles))
    assert counts[0] == 49 and counts[0] > counts[1] > counts[2] > 0


def small_cell(size: int = 60, background: tuple[int, int, int] = (236, 226, 230)) -> np.ndarray:
    image = np.full((size, size + 10, 3), background, np.uint8)
    cv2.circle(image, (size // 2, size // 2), size // 3, (112, 58, 150), -1)
    return image


def test_small_image_is_padded_with_its_background(tmp_path):
    image = small_cell()
    tiles = tile_image(image, TilesConfig(patch_size=96, min_foreground=0.05))
    assert len(tiles) == 1 and tiles.coords.tolist() == [[0, 0]] and tiles.image_size == (60, 70)
    tile = tiles.images[0]
    np.testing.assert_array_equal(tile[:60, :70], image)
    assert (tile[60:, :] == (236, 226, 230)).all() and (tile[:, 70:] == (236, 226, 230)).all()
    black = tile_image(small_cell(background=(0, 0, 0)), TilesConfig(patch_size=96, min_foreground=0.05))
    assert (black.images[0][60:] == 0).all()


def test_small_image_rejected_when_configured():
    with pytest.raises(ImageError, match=r"^cell\.png: image is 70x60 pixels, smaller than a 96x96 tile"):
        tile_image(small_cell(), TilesConfig(patch_size=96, small_image="reject"), source="cell.png")


def test_blank_image_is_a_named_error():
    with pytest.raises(NoForegroundError, match=r"^blank\.bmp: no foreground found"):
        tile_image(np.full((300, 300, 3), 240, np.uint8), TilesConfig(), source="blank.bmp")


def test_no_tile_with_enough_foreground_is_a_named_error():
    image = np.zeros((448, 448, 3), np.uint8)
    cv2.circle(image, (224, 224), 12, (112, 58, 150), -1)
    with pytest.raises(NoForegroundError, match=r"^speck\.bmp: no 224x224 tile has enough foreground \(best 0\.00"):
        tile_image(image, TilesConfig(), source="speck.bmp")


@pytest.mark.parametrize("array", [np.zeros((50, 50), np.uint8), np.zeros((50, 50, 3), np.uint16)])
def test_non_rgb_arrays_are_named(array):
    with pytest.raises(ImageError, match=r"^x\.tif: array of shape"):
        tile_image(array, TilesConfig(), source="x.tif")
