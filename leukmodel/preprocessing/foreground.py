"""Foreground (cells) versus background, for both polarities of blood-smear images.

C-NMC's segmented cells sit on pure black; smear fields have a pale, nearly grey background. Both backgrounds
have low colour saturation while Giemsa-stained cells (and red cells) are saturated, so Otsu's threshold on the
HSV saturation channel separates cells from either background without knowing which polarity an image has.
"""

from __future__ import annotations

import cv2
import numpy as np

from leukmodel.errors import ImageError

FOREGROUND_METHOD = "otsu-hsv-saturation/1"
"""Identity of the masking method below; part of the feature-cache key, bump it when the method changes."""

DARK_VALUE = 16
"""Pixels darker than this (HSV value, 0-255) count as background: their saturation is noise."""

MIN_CONTRAST = 20.0
"""Smallest difference (0-255) between the mean saturation of the two Otsu classes for an image to have cells."""


class NoForegroundError(ImageError):
    """An image in which no cells were found, or no tile holds enough of them."""


def foreground_mask(rgb: np.ndarray, *, blur: int = 7, close: int = 5) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the stained cells in an ``(H, W, 3)`` uint8 RGB image.

    The saturation channel is median-blurred (``blur`` pixels), thresholded with Otsu's method and closed with
    an elliptic kernel of ``close`` pixels to fill small holes, as CLAM does for slides. A blank image (one
    colour, or only noise) gives an empty mask: when the two Otsu classes differ by less than
    :data:`MIN_CONTRAST` in mean saturation there is nothing to separate.
    """
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    saturation = np.where(hsv[..., 2] < DARK_VALUE, 0, hsv[..., 1]).astype(np.uint8)
    saturation = cv2.medianBlur(saturation, blur)
    _, binary = cv2.threshold(saturation, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = binary.astype(bool)
    if not mask.any() or mask.all():
        return np.zeros(mask.shape, dtype=bool)
    if saturation[mask].mean() - saturation[~mask].mean() < MIN_CONTRAST:
        return np.zeros(mask.shape, dtype=bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    return cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel).astype(bool)
