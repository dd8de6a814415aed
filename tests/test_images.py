"""Decoding image files: what is accepted, and every bad input named with its file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from leukmodel.data.images import decode_rgb, read_rgb
from leukmodel.errors import ImageError


@pytest.fixture()
def cell(cnmc_sample):
    return cnmc_sample / "all" / "UID_1_3_1_all.bmp"


def _write(path, pixels, ext=".png"):
    ok, data = cv2.imencode(ext, pixels)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def test_real_cnmc_bmp_is_rgb(cell):
    rgb = read_rgb(cell)
    assert rgb.shape == (450, 450, 3) and rgb.dtype == np.uint8
    bgr = cv2.imread(str(cell))
    np.testing.assert_array_equal(rgb, bgr[..., ::-1])
    assert (rgb.max(axis=2) == 0).mean() > 0.7  # C-NMC: one cell on a black background


def test_png_conversion_and_opaque_rgba_decode_to_the_same_pixels(cell, tmp_path):
    bgr = cv2.imread(str(cell))
    png = _write(tmp_path / "cell.png", bgr)
    rgba = _write(tmp_path / "cell_rgba.png", cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    np.testing.assert_array_equal(read_rgb(png), read_rgb(cell))
    np.testing.assert_array_equal(read_rgb(rgba), read_rgb(cell))


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.bmp", None, "image file not found"),
        ("empty.bmp", lambda p, cell: p.write_bytes(b""), "image file is empty"),
        ("text.bmp", lambda p, cell: p.write_bytes(b"not an image"), r"cannot decode the image \(corrupt"),
        ("cut.bmp", lambda p, cell: p.write_bytes(cell.read_bytes()[:200_000]), "cannot decode the image"),
        ("gray.png", lambda p, cell: _write(p, np.full((40, 40), 90, np.uint8)), "grayscale"),
        ("deep.png", lambda p, cell: _write(p, np.full((40, 40, 3), 900, np.uint16)), "16-bit"),
        (
            "glass.png",
            lambda p, cell: _write(p, np.dstack([np.full((40, 40, 3), 90, np.uint8), np.full((40, 40), 7, np.uint8)])),
            "transparent alpha",
        ),
    ],
)
def test_bad_images_are_named(tmp_path, cell, name, make, message):
    path = tmp_path / name
    if make is not None:
        make(path, cell)
    with pytest.raises(ImageError, match=rf"{name}: .*{message}"):
        read_rgb(path)


def test_decode_names_the_source_it_is_given():
    with pytest.raises(ImageError, match=r"^upload 3: cannot decode"):
        decode_rgb(b"\x00" * 64, source="upload 3")
