"""The pixels behind a bag: its original images and each tile, re-cut exactly as the features were computed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leukmodel.config.features import TilesConfig
from leukmodel.data.images import read_rgb
from leukmodel.errors import ConfigError
from leukmodel.features.bags import Bag
from leukmodel.preprocessing import tile_image


@dataclass(frozen=True)
class BagPixels:
    """The original RGB images of a bag and the RGB pixels of its tiles, in the bag's tile order.

    Attributes:
        images: image index (into ``Bag.images``) -> ``(H, W, 3)`` uint8, for every image that has tiles.
        tiles: ``(N, P, P, 3)`` uint8, row ``j`` is the tile whose features are row ``j`` of the bag.
    """

    images: dict[int, np.ndarray]
    tiles: np.ndarray

    @property
    def patch_size(self) -> int:
        return int(self.tiles.shape[1])


def bag_pixels(bag: Bag, tiles: TilesConfig) -> BagPixels:
    """Re-tile the bag's images with ``tiles`` and check that the tiles are the bag's, in the same order.

    Raises:
        ImageError: an image is missing or unreadable.
        ConfigError: re-tiling an image does not give the bag's tile coordinates (the features were computed
            with other tiling settings, or the image file changed).
    """
    images: dict[int, np.ndarray] = {}
    pixels: list[np.ndarray | None] = [None] * len(bag)
    for index in np.unique(bag.image_index):
        path = bag.images[int(index)]
        rgb = read_rgb(path)
        cut = tile_image(rgb, tiles, path)
        rows = np.flatnonzero(bag.image_index == index)
        if not np.array_equal(cut.coords, bag.coords[rows]):
            raise ConfigError(
                f"re-tiling gives {len(cut.coords)} tiles at other positions than the {len(rows)} tiles of the "
                "cached features",
                file=path,
                field="tiles",
                expected="the tiling settings and image files the features were computed with",
            )
        images[int(index)] = rgb
        for row, tile in zip(rows, cut.images, strict=True):
            pixels[row] = tile
    return BagPixels(images=images, tiles=np.stack(pixels))
