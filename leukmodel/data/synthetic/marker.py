"""The file that marks a folder as a generated synthetic cohort, so that every run on it is tagged synthetic."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

MARKER_NAME = "leukmodel-synthetic.json"
"""Written at the root of every synthetic cohort: generator version, knobs and the planted signal in words."""

_LEVELS_UP = 3


def is_synthetic(root: str | PathLike[str]) -> bool:
    """True if ``root`` or one of its parents (up to three levels up) holds :data:`MARKER_NAME`.

    ``root`` may be a cohort folder, a folder inside it (``images``, ``images/fold_0/all``) or a file, whose
    folder then counts as ``root`` (``expression/x.csv``, ``images/fold_0/all/UID_1_1_1_all.bmp``).
    """
    path = Path(root).resolve()
    if path.is_file():
        path = path.parent
    return any((folder / MARKER_NAME).is_file() for folder in [path, *path.parents[:_LEVELS_UP]])
