"""Layer3 maps left in the feature cache and read per batch, so that a cohort's bags take bounded memory.

A layer3 map is 50 to 100 times a pooled feature (ResNet-50 at 224 px: 1024 x 14 x 14 fp16, 401 KB per tile, some
38 GB for C-NMC's training folds). A :class:`StreamedMaps` holds only where its bag's maps are: the cache entries
of the bag's images and their tile counts. Training reads the tiles it drew for a step, prediction the bags of one
batch; what is held at a time is one batch, whatever the cohort size. It pickles to a few hundred bytes, so Ray
Tune sends a cohort of them to its trials through the object store cheaply (the trials read the same cache: a
folder every node sees, as for featurize).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leukmodel.features.hdf5 import read_h5_rows


@dataclass(frozen=True)
class StreamedMaps:
    """A bag's ``(N, C, h, w)`` layer3 maps, read from its images' cache entries when asked for.

    Attributes:
        files: the cache entry (HDF5) of each of the bag's images with tiles, in bag order.
        counts: the tiles of each entry.
        tile_shape: ``(C, h, w)`` of one tile's maps.
        dtype: the maps' dtype (float16 in the cache).
    """

    files: tuple[Path, ...]
    counts: tuple[int, ...]
    tile_shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return (sum(self.counts), *self.tile_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.tile_shape)

    @property
    def nbytes(self) -> int:
        """What :meth:`read` of every row returns, in bytes (nothing of it is held here)."""
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def __len__(self) -> int:
        return sum(self.counts)

    def read(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The maps of the bag rows ``rows`` (all when ``None``), in increasing row order; only they are read.

        Raises:
            BagFileError: an entry is gone or damaged (names the file).
        """
        if rows is None:
            parts = [read_h5_rows(path) for path in self.files]
        else:
            rows = np.unique(np.asarray(rows, dtype=np.int64))
            if len(rows) and not 0 <= rows[0] <= rows[-1] < len(self):
                raise IndexError(f"rows {rows[0]}..{rows[-1]} of a bag of {len(self)} tiles")
            starts = np.cumsum((0, *self.counts))
            parts = []
            for path, start, stop in zip(self.files, starts[:-1], starts[1:], strict=True):
                local = rows[(rows >= start) & (rows < stop)] - start
                if len(local):
                    parts.append(read_h5_rows(path, local))
        if not parts:
            return np.zeros((0, *self.tile_shape), self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    @classmethod
    def join(cls, parts: list[StreamedMaps]) -> StreamedMaps:
        """The maps of several images' entries end to end (one bag of several images)."""
        return cls(
            files=tuple(f for part in parts for f in part.files),
            counts=tuple(c for part in parts for c in part.counts),
            tile_shape=parts[0].tile_shape,
            dtype=parts[0].dtype,
        )
