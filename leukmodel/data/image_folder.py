"""Reader for any folder of images arranged by class: ``<root>/<class>/**/<image>``."""

from __future__ import annotations

import re
from pathlib import Path

from leukmodel.config import ImageSource
from leukmodel.data.records import Ignored, ImageRecord, find_images
from leukmodel.errors import CohortError


def read_image_folder(source: ImageSource, ignored: list[Ignored] | None = None) -> list[ImageRecord]:
    """Images labelled by their top-level folder under ``root``.

    The subject (patient) is the ``subject`` group of ``subject_pattern`` matched against the file name,
    else the image's parent folder when that is not the class folder, else the file stem.
    """
    pattern = re.compile(source.subject_pattern) if source.subject_pattern else None
    if pattern is not None and "subject" not in pattern.groupindex:
        raise CohortError(
            f"subject_pattern '{source.subject_pattern}' has no group named 'subject'",
            field="data.images.subject_pattern",
            expected="a regular expression such as '^(?P<subject>[^_]+)_'",
        )
    records = []
    for path in find_images(source.root, source.extensions, ignored, source.prefer_extension):
        relative = path.relative_to(source.root)
        if len(relative.parts) < 2:
            raise CohortError(
                "image lies directly in the root folder, so it has no class",
                file=path,
                expected="<root>/<class>/<image>",
            )
        label = relative.parts[0]
        records.append(ImageRecord(path=path, subject=_subject(path, relative, pattern), label=label, name=path.stem))
    return records


def _subject(path: Path, relative: Path, pattern: re.Pattern[str] | None) -> str:
    if pattern is not None:
        match = pattern.search(path.name)
        if match is None:
            raise CohortError(
                f"file name does not match subject_pattern '{pattern.pattern}'",
                file=path,
                field="data.images.subject_pattern",
            )
        return match["subject"]
    if len(relative.parts) > 2:
        return relative.parts[-2]
    return path.stem
