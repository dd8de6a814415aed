"""Reader for the C-NMC 2019 single-cell image layout (ISBI 2019 challenge, TCIA).

Training folds: ``fold_*/all|hem/UID_<subject>_<image>_<cell>_<all|hem>.bmp``; healthy subjects carry an
``H`` (or ``h``) prefix. Preliminary test: a flat folder ``1.bmp ... N.bmp`` with a labels CSV
(``Patient_ID,new_names,labels``; ``Patient_ID`` holds the original file name, ``labels`` 1 = all, 0 = hem).
"""

from __future__ import annotations

import re
from pathlib import Path

from leukmodel.config import ImageSource
from leukmodel.data.records import Ignored, ImageRecord, find_images
from leukmodel.data.tables import read_table
from leukmodel.errors import CohortError

CNMC_NAME = re.compile(r"^UID_(?P<subject>[A-Za-z]?\d+)_(?P<image>\d+)_(?P<cell>\d+)_(?P<cls>[A-Za-z]+)$")
TEST_LABEL_CLASSES = {"1": "all", "0": "hem"}


def parse_cnmc_name(name: str, file: Path | None = None) -> tuple[str, str]:
    """``(subject, class token)`` from a C-NMC file name such as ``UID_h3_6_1_hem.bmp``.

    The healthy prefix is normalised to upper case (``h3`` and ``H3`` are the same subject).
    """
    match = CNMC_NAME.match(Path(name).stem)
    if match is None:
        raise CohortError(
            f"file name '{Path(name).name}' does not follow the C-NMC pattern",
            file=file or name,
            expected="UID_<subject>_<image>_<cell>_<class>.<ext>, e.g. UID_11_10_1_all.bmp",
        )
    subject = match["subject"]
    if subject[0].isalpha():
        subject = subject[0].upper() + subject[1:]
    return subject, match["cls"].lower()


def read_cnmc(source: ImageSource, ignored: list[Ignored] | None = None) -> list[ImageRecord]:
    """All images of a C-NMC folder, with subject and class token (not yet mapped to the study's classes).

    Images in a folder that is not a class folder (``fold_0/blasts/``) are left out and added to ``ignored``;
    images directly in the root are read (a flat copy of the training images).
    """
    if source.labels_csv is not None:
        return _read_test_phase(source)
    ignored = [] if ignored is None else ignored
    records: list[ImageRecord] = []
    seen: dict[str, Path] = {}
    classes = _class_folders(source)
    for path in find_images(source.root, source.extensions, ignored, source.prefer_extension):
        folder = path.parent.name.lower()
        if path.parent != source.root and folder not in classes:
            reason = f"folder '{path.parent.name}' is not a class folder ({', '.join(sorted(classes))})"
            ignored.append(Ignored(path, reason))
            continue
        subject, token = parse_cnmc_name(path.name, path)
        if folder != token and folder in classes:
            raise CohortError(
                f"file name says class '{token}' but it lies in folder '{path.parent.name}'",
                file=path,
                expected="the class in the file name to match its folder",
            )
        if path.stem in seen:  # a C-NMC name identifies one cell image: a second copy would count it twice
            raise CohortError(
                f"the image '{path.stem}' is here twice: {seen[path.stem]} and {path}",
                file=path,
                expected="each C-NMC image once in the tree (several extensions in one folder: prefer_extension)",
            )
        seen[path.stem] = path
        records.append(ImageRecord(path=path, subject=subject, label=token, name=path.stem))
    return records


def _class_folders(source: ImageSource) -> set[str]:
    return {key.lower() for key in source.class_map} or {"all", "hem"}


def _read_test_phase(source: ImageSource) -> list[ImageRecord]:
    csv = source.labels_csv
    table = read_table(csv, CohortError, "labels CSV", dtype=str, keep_default_na=False)
    for column in ("Patient_ID", "new_names", "labels"):
        if column not in table.columns:
            raise CohortError(
                f"column '{column}' is missing",
                file=csv,
                field=column,
                expected="header Patient_ID,new_names,labels",
            )
    records = []
    for row, (original, new_name, label) in enumerate(
        table[["Patient_ID", "new_names", "labels"]].itertuples(index=False), start=1
    ):
        original, new_name, label = original.strip(), new_name.strip(), label.strip()
        path = source.root / new_name
        if not path.is_file():
            raise CohortError(f"image '{new_name}' listed here is not in {source.root}", file=csv, row=row)
        if label not in TEST_LABEL_CLASSES:
            raise CohortError(f"label '{label}'", file=csv, row=row, field="labels", expected="1 (all) or 0 (hem)")
        subject, token = parse_cnmc_name(original, csv)
        if token != TEST_LABEL_CLASSES[label]:
            raise CohortError(
                f"Patient_ID '{original}' says class '{token}' but labels says {label}",
                file=csv,
                row=row,
                expected="the class in Patient_ID to agree with labels",
            )
        records.append(ImageRecord(path=path, subject=subject, label=token, name=Path(original).stem))
    return records
