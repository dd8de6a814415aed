"""The foreground mask finds cells on both backgrounds: C-NMC's black and a smear field's pale one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from leukmodel.data.images import read_rgb
from leukmodel.data.synthetic.cells import GIEMSA, draw_image
from leukmodel.preprocessing import foreground_mask

PALE = (236, 226, 230)
LILAC = (188, 176, 222)
PURPLE = (112, 58, 150)
PINK = (222, 122, 134)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre, radius, 1, -1)
    return mask.astype(bool)


def white_cell(background: tuple[int, int, int], size: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A lilac cell with a purple nucleus on ``background``, with pixel noise; returns the image and the cell."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), background, np.uint8)
    cv2.circle(image, (150, 140), 60, LILAC, -1)
    cv2.circle(image, (145, 135), 38, PURPLE, -1)
    noisy = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    return noisy, disc((size, size), (150, 140), 60)


def smear_field(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pale field with red cells (pale centres) and one white cell; returns image, white-cell and red-cell masks."""
    image, white = white_cell(PALE, seed=seed)
    red = np.zeros(white.shape, bool)
    for centre in [(40, 40), (260, 50), (50, 260), (250, 250), (260, 150)]:
        cv2.circle(image, centre, 26, PINK, -1)
        cv2.circle(image, centre, 10, (232, 170, 178), -1)
        red |= disc(white.shape, centre, 26)
    return image, white, red


@pytest.mark.parametrize("name", ["all/UID_1_3_1_all", "all/UID_1_9_1_all", "hem/UID_H6_5_1_hem"])
def test_real_cnmc_mask_is_the_cell(cnmc_sample, name):
    rgb = read_rgb(cnmc_sample / f"{name}.bmp")
    mask = foreground_mask(rgb)
    cell = rgb.max(axis=2) > 16  # C-NMC cells are segmented onto pure black
    assert 0.05 < mask.mean() < 0.5
    assert iou(mask, cell) > 0.95
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    assert stats[1:, cv2.CC_STAT_AREA].max() > 0.95 * mask.sum()  # one cell, not scattered specks


def test_smear_field_finds_white_and_red_cells_not_background():
    image, white, red = smear_field()
    mask = foreground_mask(image)
    background = ~(cv2.dilate((white | red).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool))
    assert mask[white].mean() > 0.97  # the pale cytoplasm too, not only the nucleus
    assert mask[red].mean() > 0.9
    assert mask[background].mean() < 0.01


def test_same_cell_found_on_either_polarity():
    on_black, cell = white_cell((0, 0, 0))
    on_pale, _ = white_cell(PALE)
    assert iou(foreground_mask(on_black), cell) > 0.95
    assert iou(foreground_mask(on_pale), cell) > 0.95


@pytest.mark.parametrize("style", ["segmented", "smear"])
def test_project_synthetic_images(style):
    rgb = draw_image(np.random.default_rng(3), size=256, t=0.2, style=style, noise=1.0, stain=GIEMSA)
    mask = foreground_mask(rgb)
    if style == "segmented":
        assert iou(mask, rgb.max(axis=2) > 16) > 0.9
    else:
        assert 0.1 < mask.mean() < 0.8


@pytest.mark.parametrize(
    "background", [(0, 0, 0), (255, 255, 255), PALE, PURPLE], ids=["black", "white", "pale", "one-colour"]
)
def test_blank_images_have_no_foreground(background):
    rng = np.random.default_rng(1)
    blank = np.clip(np.full((200, 200, 3), background) + rng.normal(0, 4, (200, 200, 3)), 0, 255).astype(np.uint8)
    assert not foreground_mask(blank).any()
