"""Image preprocessing: the foreground mask and tiling."""

from leukmodel.preprocessing.foreground import FOREGROUND_METHOD, NoForegroundError, foreground_mask
from leukmodel.preprocessing.tiling import Tiles, grid_positions, tile_image

__all__ = ["FOREGROUND_METHOD", "NoForegroundError", "Tiles", "foreground_mask", "grid_positions", "tile_image"]
