"""Reading image files into RGB arrays, with errors that name the file and what was expected."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import cv2
import numpy as np

from leukmodel.errors import ImageError


def read_rgb(path: str | PathLike[str]) -> np.ndarray:
    """Decode an image file to an ``(H, W, 3)`` uint8 RGB array.

    Accepts 8-bit RGB (BMP with either header, PNG, JPEG, TIFF) and RGBA whose alpha is fully opaque.

    Raises:
        ImageError: the file is missing, empty, unreadable or truncated, or is grayscale, 16-bit or
            translucent RGBA.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError("image file not found", file=path)
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ImageError("image file is empty", file=path, expected="an 8-bit RGB image")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # failures become ImageError below
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if image is None:
        raise ImageError(
            "cannot decode the image (corrupt, truncated or not an image)",
            file=path,
            expected="a readable BMP, PNG, JPEG or TIFF file",
        )
    if image.dtype != np.uint8:
        raise ImageError(
            f"pixel depth is {image.dtype} ({image.dtype.itemsize * 8}-bit)",
            file=path,
            expected="8 bits per channel",
        )
    if image.ndim == 2 or image.shape[2] == 1:
        raise ImageError(
            "image is grayscale; stain colour is needed to find cells", file=path, expected="3-channel RGB"
        )
    if image.shape[2] == 4:
        if not np.all(image[..., 3] == 255):
            raise ImageError("image has a transparent alpha channel", file=path, expected="RGB or fully opaque RGBA")
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
