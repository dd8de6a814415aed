"""What the per-format readers return, before the modalities are paired into samples."""

from __future__ import annotations

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


def find_images(root: str | PathLike[str], extensions: Iterable[str]) -> list[Path]:
    """All image files under ``root`` (recursively, sorted), by extension, case-insensitively."""
    root = Path(root)
    if not root.is_dir():
        raise CohortError("image folder not found", file=root, expected="a folder of images")
    suffixes = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not paths:
        raise CohortError("no image files found", file=root, expected=f"files ending in {', '.join(sorted(suffixes))}")
    return paths
