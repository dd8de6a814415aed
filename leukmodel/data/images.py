"""Reading image files into RGB arrays, with errors that name the file and what was expected."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import cv2
import numpy as np

from leukmodel.errors import ImageError


def read_rgb(path: str | PathLike[str]) -> np.ndarray:
    """Decode an image file to an ``(H, W, 3)`` uint8 RGB array (see :func:`decode_rgb`).

    Raises:
        ImageError: the file is missing, or :func:`decode_rgb` rejects its content.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError("image file not found", file=path)
    return decode_rgb(path.read_bytes(), source=path)


def decode_rgb(data: bytes, source: str | PathLike[str] | None = None) -> np.ndarray:
    """Decode the bytes of an image file to an ``(H, W, 3)`` uint8 RGB array.

    Accepts 8-bit RGB (BMP with either header, PNG, JPEG, TIFF) and RGBA whose alpha is fully opaque.

    Raises:
        ImageError: the data are empty, unreadable or truncated, or the image is grayscale, 16-bit, has an
            unusual number of channels or is translucent RGBA. Messages name ``source``.
    """
    if len(data) == 0:
        raise ImageError("image file is empty", file=source, expected="an 8-bit RGB image")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # failures become ImageError below
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if image is None:
        raise ImageError(
            "cannot decode the image (corrupt, truncated or not an image)",
            file=source,
            expected="a readable BMP, PNG, JPEG or TIFF file",
        )
    if image.dtype != np.uint8:
        raise ImageError(
            f"pixel depth is {image.dtype} ({image.dtype.itemsize * 8}-bit)",
            file=source,
            expected="8 bits per channel",
        )
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        raise ImageError(
            "image is grayscale; stain colour is needed to find cells", file=source, expected="3-channel RGB"
        )
    if channels not in (3, 4):
        raise ImageError(f"image has {channels} channels", file=source, expected="3-channel RGB or RGBA")
    if channels == 4:
        if not np.all(image[..., 3] == 255):
            raise ImageError("image has a transparent alpha channel", file=source, expected="RGB or fully opaque RGBA")
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
