"""What the per-format readers return, before the modalities are paired into samples."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import pandas as pd

from leukmodel.errors import CohortError


@dataclass(frozen=True)
class ImageRecord:
    """One image file with its subject (patient) and class token as found in the data."""

    path: Path
    subject: str
    label: str
    name: str


@dataclass
class ExpressionTable:
    """Expression profiles as read: ``values`` (expression ids x probes, float32) and their class tokens.

    ``origin`` maps each expression id to ``(file, row)`` so later errors can point at the source row.
    """

    values: pd.DataFrame
    labels: pd.Series
    origin: dict[str, tuple[Path, int]] = field(default_factory=dict)
    gene_symbols: dict[str, str] = field(default_factory=dict)
    dropped_probes: int = 0


@dataclass(frozen=True)
class Ignored:
    """A file (or folder) under an image root that is not part of the cohort, and why (``validate`` lists them)."""

    path: Path
    reason: str


MACOS_METADATA = "__MACOSX"
"""The folder of resource forks a Mac's unzip leaves (with ``._<name>`` files): skipped without a word."""


def find_images(
    root: str | PathLike[str],
    extensions: Iterable[str],
    ignored: list[Ignored] | None = None,
    prefer_extension: str | None = None,
) -> list[Path]:
    """All image files under ``root`` (recursively, sorted), by extension, case-insensitively.

    Symbolic links to folders are followed, each folder searched once (a link back into the tree is not a
    loop). Other files, and unreadable links, go to ``ignored`` with the reason; ``__MACOSX`` folders, ``._*``
    files and hidden files are skipped without a word. One image under several extensions in the same folder
    (``x.bmp`` and ``x.png``) is an error unless ``prefer_extension`` names the one to keep.
    """
    root = Path(root)
    if not root.is_dir():
        raise CohortError("image folder not found", file=root, expected="a folder of images")
    suffixes = {_suffix(e) for e in extensions}
    ignored = [] if ignored is None else ignored
    paths, searched = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        identity = (here.stat().st_dev, here.stat().st_ino)
        if identity in searched:
            ignored.append(Ignored(here, "a symbolic link to a folder already searched"))
            dirnames.clear()
            continue
        searched.add(identity)
        dirnames[:] = [d for d in dirnames if d != MACOS_METADATA and not d.startswith(".")]
        for name in filenames:
            path = here / name
            if name.startswith("."):
                continue
            if path.suffix.lower() not in suffixes:
                ignored.append(Ignored(path, f"not an image file (extensions read: {', '.join(sorted(suffixes))})"))
            elif not path.is_file():
                ignored.append(Ignored(path, "a broken symbolic link"))
            else:
                paths.append(path)
    if not paths:
        raise CohortError("no image files found", file=root, expected=f"files ending in {', '.join(sorted(suffixes))}")
    return _one_per_image(sorted(paths), ignored, prefer_extension)


def _suffix(extension: str) -> str:
    return extension.lower() if extension.startswith(".") else f".{extension.lower()}"


def _one_per_image(paths: list[Path], ignored: list[Ignored], prefer_extension: str | None) -> list[Path]:
    """Drop the copies of an image saved under several extensions, keeping ``prefer_extension``'s."""
    by_image: dict[Path, list[Path]] = defaultdict(list)
    for path in paths:
        by_image[path.with_suffix("")].append(path)
    keep = []
    for copies in by_image.values():
        if len(copies) == 1:
            keep.append(copies[0])
            continue
        preferred = [p for p in copies if prefer_extension and p.suffix.lower() == _suffix(prefer_extension)]
        if len(preferred) != 1:
            raise CohortError(
                "the same image is here under several extensions: " + ", ".join(p.name for p in copies),
                file=copies[0].parent,
                field="data.images.prefer_extension",
                expected="one file per image, or prefer_extension naming the one to keep (e.g. .png)",
            )
        keep.append(preferred[0])
        ignored.extend(
            Ignored(p, f"the same image as {preferred[0].name} (prefer_extension)") for p in copies if p != preferred[0]
        )
    return sorted(keep)
