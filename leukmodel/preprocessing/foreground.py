"""Foreground (cells) versus background, for both polarities of blood-smear images.

C-NMC's segmented cells sit on pure black; smear fields have a pale, nearly grey background. Both backgrounds
have low colour saturation while Giemsa-stained cells (and red cells) are saturated, so Otsu's threshold on the
HSV saturation channel separates cells from either background without knowing which polarity an image has.
"""

from __future__ import annotations

import cv2
import numpy as np

from leukmodel.errors import ImageError

DARK_VALUE = 16
"""Pixels darker than this (HSV value, 0-255) count as background: their saturation is noise."""

MIN_CONTRAST = 20.0
"""Smallest difference (0-255) between the mean saturations of two Otsu classes for them to be different."""

BLUR = 5
"""Median filter size (pixels) applied to the saturation before thresholding (5 is OpenCV's fast path)."""

CLOSE = 5
"""Size (pixels) of the elliptic kernel that closes small holes in the mask."""

FOREGROUND_METHOD = f"otsu-hsv-saturation/2 blur={BLUR} close={CLOSE} dark={DARK_VALUE} contrast={MIN_CONTRAST}"
"""Identity of the masking method with its default parameters; part of the feature-cache key. Bump the version
when the method changes."""


NO_FOREGROUND_EXPECTED = "stained cells on a black or pale background (or tiles.on_no_foreground: skip)"


class NoForegroundError(ImageError):
    """An image in which no cells were found, or no tile holds enough of them."""


def foreground_mask(rgb: np.ndarray, *, blur: int = BLUR, close: int = CLOSE) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the stained cells in an ``(H, W, 3)`` uint8 RGB image.

    The saturation channel is median-blurred (``blur`` pixels) and thresholded with Otsu's method, as CLAM does
    for slides. Otsu's first split often falls between the pale parts of cells (cytoplasm, red-cell centres)
    and the dark-stained nuclei, so it is applied once more to the pixels below the first threshold; the lower
    threshold is used when its two classes differ by at least :data:`MIN_CONTRAST`, that is, when the pale
    class is stained matter rather than background noise. The mask is closed with an elliptic kernel of
    ``close`` pixels to fill small holes. A blank image (one colour, or only noise) gives an empty mask.
    """
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    saturation = np.where(hsv[..., 2] < DARK_VALUE, 0, hsv[..., 1]).astype(np.uint8)
    saturation = cv2.medianBlur(saturation, blur)
    threshold, contrast = _otsu(saturation)
    if contrast < MIN_CONTRAST:
        return np.zeros(saturation.shape, dtype=bool)
    lower, contrast = _otsu(saturation[saturation <= threshold])
    if contrast >= MIN_CONTRAST:
        threshold = lower
    mask = (saturation > threshold).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel).astype(bool)


def _otsu(values: np.ndarray) -> tuple[float, float]:
    """Otsu's threshold of uint8 ``values`` and the difference between the means of the two classes."""
    threshold, upper = cv2.threshold(values.reshape(-1, 1), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    upper = upper.ravel().astype(bool)
    if upper.all() or not upper.any():
        return threshold, 0.0
    flat = values.ravel()
    return threshold, float(flat[upper].mean() - flat[~upper].mean())
