"""Image preprocessing: the foreground mask and tiling."""

from leukmodel.preprocessing.foreground import (
    FOREGROUND_METHOD,
    NO_FOREGROUND_EXPECTED,
    NoForegroundError,
    foreground_mask,
)
from leukmodel.preprocessing.tiling import Tiles, grid_positions, tile_image

__all__ = [
    "FOREGROUND_METHOD",
    "NO_FOREGROUND_EXPECTED",
    "NoForegroundError",
    "Tiles",
    "foreground_mask",
    "grid_positions",
    "tile_image",
]
