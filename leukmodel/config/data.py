"""Where the cohort's files are and how the two modalities are paired."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from leukmodel.config.base import ResolvedPath, Section

IMAGE_EXTENSIONS = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"'{pattern}' is not a regular expression ({exc})") from None
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]
"""A regular expression (Python syntax), checked when the config is read."""


class ImageSource(Section):
    """Blood-smear images.

    ``cnmc``: the C-NMC 2019 layout, ``<root>/**/<class>/UID_<subject>_<image>_<cell>_<class>.bmp`` (training
    folds), or a flat folder of images with a labels CSV (``labels_csv``, the preliminary-test layout).
    ``folder``: ``<root>/<class>/**/<image>``; the subject is taken from the file name by
    ``subject_pattern`` (a regular expression with a group named ``subject``), else from the image's
    parent folder when it is not the class folder, else the file stem. One image saved under two extensions
    in one folder (``x.bmp`` and ``x.png``) is an error unless ``prefer_extension`` (e.g. ``.png``) says which
    to keep.
    """

    format: Literal["cnmc", "folder"] = "cnmc"
    root: ResolvedPath
    bag_by: Literal["image", "subject"] = "subject"
    labels_csv: ResolvedPath | None = None
    class_map: dict[str, str | None] = Field(default_factory=dict)
    subject_pattern: Regex | None = None
    extensions: list[str] = Field(default_factory=lambda: list(IMAGE_EXTENSIONS), min_length=1)
    prefer_extension: str | None = None


class ExpressionSource(Section):
    """Gene-expression profiles.

    ``cumida``: CSVs with columns ``samples``, ``type`` then one column per probe; several files are
    combined. ``matrix``: any CSV/TSV matrix, samples as rows (``samples_x_genes``) or as columns
    (``genes_x_samples``), labels in ``labels_file`` (columns ``labels_sample_column`` and
    ``labels_label_column``).
    """

    format: Literal["cumida", "matrix"] = "cumida"
    files: list[ResolvedPath] = Field(min_length=1)
    orientation: Literal["samples_x_genes", "genes_x_samples"] = "samples_x_genes"
    gene_column: str | None = None
    ignore_columns: list[Regex] = Field(default_factory=list)
    labels_file: ResolvedPath | None = None
    labels_sample_column: str = "sample"
    labels_label_column: str = "label"
    class_map: dict[str, str | None] = Field(default_factory=dict)
    annotation: ResolvedPath | None = None
    annotation_probe_column: str = "ID"
    annotation_symbol_column: str = "Gene Symbol"

    @model_validator(mode="after")
    def _labels_for_matrix(self) -> ExpressionSource:
        if self.format == "matrix" and self.labels_file is None:
            raise ValueError("format 'matrix' needs 'labels_file' (a CSV of sample and label)")
        return self


class PairingConfig(Section):
    """How image bags and expression profiles are joined into one sample.

    ``paired``: a manifest CSV (columns ``patient_id``, ``expression_sample`` and optionally
    ``image_subject``) links them per patient, as in a real study. ``label_matched``: for public datasets
    that share no patients, each image bag is given a same-label expression profile by a seeded draw that
    is recorded; results of such runs say nothing about real patients and are tagged so.
    """

    mode: Literal["paired", "label_matched"] = "paired"
    manifest: ResolvedPath | None = None
    seed: int = 0


class DataConfig(Section):
    """The cohort: one or both modalities, how they pair, and the study's class order.

    ``images`` is one image source or a list of them (e.g. the C-NMC training folds and the preliminary-test folder
    with its labels CSV), each with its own format, root, labels CSV and class map; sample ids must be unique
    across sources.
    """

    images: ImageSource | list[ImageSource] | None = None
    expression: ExpressionSource | None = None
    pairing: PairingConfig = Field(default_factory=PairingConfig)
    classes: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _some_modality(self) -> DataConfig:
        if self.classes is not None and len(set(self.classes)) < len(self.classes):
            raise ValueError(f"data.classes names a class twice: {self.classes}")
        if not self.image_sources and self.expression is None:
            raise ValueError("give at least one of 'images' and 'expression'")
        both = bool(self.image_sources) and self.expression is not None
        if both and self.pairing.mode == "paired" and self.pairing.manifest is None:
            raise ValueError("pairing mode 'paired' needs 'pairing.manifest' (patient_id, expression_sample)")
        return self

    @property
    def image_sources(self) -> list[ImageSource]:
        """``images`` as a list (empty without images)."""
        if self.images is None:
            return []
        return list(self.images) if isinstance(self.images, list) else [self.images]
