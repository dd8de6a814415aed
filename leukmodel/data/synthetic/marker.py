"""The file that marks a folder as a generated synthetic cohort, so that every run on it is tagged synthetic."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

MARKER_NAME = "leukmodel-synthetic.json"
"""Written at the root of every synthetic cohort: generator version, knobs and the planted signal in words."""

_LEVELS_UP = 3


def is_synthetic(root: str | PathLike[str]) -> bool:
    """True if ``root`` or one of its parents (up to three levels up) holds :data:`MARKER_NAME`.

    ``root`` may be a cohort folder, a data folder inside it (``images``) or a file (``expression/x.csv``).
    """
    path = Path(root).resolve()
    return any((folder / MARKER_NAME).is_file() for folder in [path, *path.parents[:_LEVELS_UP]])
