"""What one prediction request holds, read from files, folders, base64 data URIs and pyfunc input rows.

The pyfunc's input (``mlflow models serve`` JSON ``dataframe_records``, ``dataframe_split`` or ``inputs``) is a
table with one row per sample and these columns, all optional:

``sample_id``
    any string; ``row <k>`` when absent.
``images``
    a list of (or one) image path, folder of images (searched recursively), glob pattern (``*``, ``?``, ``[...]``,
    ``**``; the image files it matches) or ``data:image/...;base64,...`` URI. Paths are read on the machine that
    runs the model. Absent, empty or null: no images.
``expression``
    a ``{gene: value}`` mapping, or a list of values in the order of the model's ``genes`` (``serving.json``).
    Absent or null: no expression.

A sample with only images is answered by the image-only model, one with only expression by the genomic-only
model; a sample with neither is an error.
"""

from __future__ import annotations

import base64
import binascii
import glob
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leukmodel.config.data import IMAGE_EXTENSIONS
from leukmodel.errors import ExpressionError, ImageError, LeukInputError

COLUMNS = ("sample_id", "images", "expression")
GLOB = re.compile(r"[*?[]")
DATA_URI = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,;]*)*?;base64,(?P<data>.*)", re.DOTALL)

Expression = Mapping[str, float] | Sequence[float]


@dataclass(frozen=True)
class ImageInput:
    """The bytes of one image file and the name that messages and outputs use for it (path or ``data-uri[k]``)."""

    name: str
    data: bytes


@dataclass(frozen=True)
class SampleInput:
    """One sample to predict: its images and/or its expression profile."""

    sample_id: str
    images: tuple[ImageInput, ...] = ()
    expression: Expression | None = None


def read_images(entries: str | Sequence[str] | None, *, row: str | None = None) -> tuple[ImageInput, ...]:
    """The images named by ``entries``: files, folders of images (recursive, sorted), glob patterns (the image
    files they match, sorted) and base64 data URIs.

    Raises:
        ImageError: a path does not exist or cannot be read, a folder or pattern gives no image files, or a data
            URI is not valid base64. Messages name the path (or the request row and the entry).
    """
    if entries is None:
        return ()
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, (list, tuple)):
        raise ImageError(
            f"images is a {type(entries).__name__}", row=row, field="images", expected="a list of image entries"
        )
    images: list[ImageInput] = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise ImageError(
                f"entry {k} is a {type(entry).__name__}",
                row=row,
                field="images",
                expected="image paths, folders or data:image/...;base64,... strings",
            )
        match = DATA_URI.fullmatch(entry.strip())
        if match is not None:
            images.append(ImageInput(f"data-uri[{k}]", _decode_base64(match["data"], row, k)))
        else:
            images.extend(_read_path(entry))
    return tuple(images)


def samples_from_frame(frame: pd.DataFrame) -> list[SampleInput]:
    """One :class:`SampleInput` per row of a pyfunc input table (see the module docstring for the columns).

    Raises:
        LeukInputError: an unknown column, or a row with neither images nor expression.
        ImageError: an image entry that cannot be read (see :func:`read_images`).
    """
    unknown = [str(c) for c in frame.columns if c not in COLUMNS]
    if unknown:
        raise LeukInputError(
            f"unknown column(s) {', '.join(unknown)}", field=unknown[0], expected="columns " + ", ".join(COLUMNS)
        )
    samples = []
    for k, record in enumerate(frame.to_dict("records")):
        sample_id = _plain(record.get("sample_id"))
        sample_id = f"row {k}" if sample_id is None else str(sample_id)
        images = _plain(record.get("images"))
        expression = _plain(record.get("expression"))
        if isinstance(expression, str):
            raise ExpressionError(
                "expression is a string",
                row=sample_id,
                field="expression",
                expected="a {gene: value} mapping or a list",
            )
        sample = SampleInput(sample_id, read_images(images or None, row=sample_id), expression)
        if not sample.images and sample.expression is None:
            raise LeukInputError(
                "neither images nor expression given", row=sample_id, expected="'images', 'expression' or both"
            )
        samples.append(sample)
    return samples


def _read_path(entry: str) -> list[ImageInput]:
    path = Path(entry).expanduser()
    if path.is_dir():
        files, what = path.rglob("*"), "folder holds"
    elif not path.exists() and GLOB.search(entry):
        files, what = (Path(p) for p in glob.glob(str(path), recursive=True)), "pattern matches"
    else:
        return [_read_file(path)]
    images = sorted(p for p in files if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise ImageError(
            f"{what} no image files", file=entry, expected="files ending in " + ", ".join(IMAGE_EXTENSIONS)
        )
    return [_read_file(p) for p in images]


def _read_file(path: Path) -> ImageInput:
    if not path.is_file():
        raise ImageError("image file not found", file=path, expected="an image file or a folder of images")
    try:
        return ImageInput(str(path), path.read_bytes())
    except OSError as exc:
        raise ImageError(f"cannot read the file ({exc.strerror})", file=path) from None


def _decode_base64(data: str, row: str | None, k: int) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(
            f"entry {k} is not valid base64", row=row, field="images", expected="data:image/png;base64,<base64 bytes>"
        ) from None


def _plain(value: Any) -> Any:
    """A JSON-parsed cell as plain Python: arrays become lists, NaN placeholders of absent cells become ``None``."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
