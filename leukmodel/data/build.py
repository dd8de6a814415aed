"""Assemble a :class:`Cohort` from a config: read each modality, map classes, pair, check."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from leukmodel.config import Config, ImageSource
from leukmodel.data.cnmc import read_cnmc
from leukmodel.data.cohort import Cohort, Sample
from leukmodel.data.expression import check_log_input, read_expression
from leukmodel.data.image_folder import read_image_folder
from leukmodel.data.pairing import (
    ImageBag,
    Profile,
    expression_only,
    image_only,
    pair_by_label,
    pair_by_manifest,
)
from leukmodel.data.records import ExpressionTable, Ignored, ImageRecord
from leukmodel.data.synthetic import is_synthetic
from leukmodel.errors import CohortError


class ClassMapper:
    """Maps the class tokens found in data to the study's classes (``None`` = excluded from the cohort)."""

    def __init__(self, class_map: dict[str, str | None], classes: list[str] | None, field: str) -> None:
        self._map = {k.lower(): v for k, v in class_map.items()}
        self._classes = classes
        self._field = field

    def __call__(self, token: str, *, file: Path | str, row: int | str | None = None) -> str | None:
        if self._map:
            if token.lower() not in self._map:
                raise CohortError(
                    f"unknown class '{token}'",
                    file=file,
                    row=row,
                    field=self._field,
                    expected="one of " + ", ".join(sorted(self._map)) + " (or add it to class_map)",
                )
            label = self._map[token.lower()]
        else:
            label = token
        if label is not None and self._classes is not None and label not in self._classes:
            raise CohortError(
                f"class '{label}' is not one of data.classes",
                file=file,
                row=row,
                expected=", ".join(self._classes),
            )
        return label


def build_cohort(config: Config) -> Cohort:
    """Read, map, pair and check the cohort that ``config.data`` describes.

    Raises:
        CohortError, ExpressionError: a named problem with a file, row or field.
    """
    data = config.data
    excluded: list[str] = []
    ignored: list[Ignored] = []
    bags: list[ImageBag] = []
    profiles: dict[str, Profile] = {}
    sources: list[Path] = []
    table: ExpressionTable | None = None
    source_of: dict[str, tuple[int, ImageSource]] = {}
    for index, source in enumerate(data.image_sources):
        where = "data.images" if not isinstance(data.images, list) else f"data.images[{index}]"
        mapper = ClassMapper(source.class_map, data.classes, f"{where}.class_map")
        for bag in _image_bags(source, mapper, excluded, ignored):
            if bag.bag_id in source_of:
                first, other = source_of[bag.bag_id]
                raise CohortError(
                    f"sample id '{bag.bag_id}' comes from two image sources: data.images[{first}] ({other.root}) "
                    f"and data.images[{index}] ({source.root})",
                    file=bag.images[0],
                    field=where,
                    expected="sample ids unique across image sources (a subject or image name in one source only)",
                )
            source_of[bag.bag_id] = (index, source)
            bags.append(bag)
        sources.append(source.root)
    if data.expression is not None:
        table = read_expression(data.expression)
        check_log_input(table, config.genomic.log_transform)
        mapper = ClassMapper(data.expression.class_map, data.classes, "data.expression.class_map")
        for expression_id, token in table.labels.items():
            file, row = table.origin[expression_id]
            label = mapper(token, file=file, row=row)
            if label is None:
                excluded.append(f"expression {expression_id} ({token})")
            else:
                profiles[expression_id] = Profile(expression_id, label, f"{file} row {row}")
        sources.extend(data.expression.files)

    for modality, found, where in (("images", bags, data.images), ("expression", profiles, data.expression)):
        if where is not None and not found:
            raise CohortError(
                f"the config names {modality} but they yield no sample"
                + (f" ({len(excluded)} mapped to null by class_map)" if excluded else ""),
                file=data.image_sources[0].root if modality == "images" else where.files[0],
                field=f"data.{modality}",
                expected=f"at least one {'image' if modality == 'images' else 'expression row'} of a class "
                f"(or no data.{modality} section for a single-modality cohort)",
            )
    unpaired = []
    if bags and profiles:
        if data.pairing.mode == "paired":
            samples, unpaired = pair_by_manifest(bags, profiles, data.pairing.manifest)
        else:
            samples, unpaired = pair_by_label(bags, profiles, data.pairing.seed)
        pairing = data.pairing.mode
    elif data.image_sources:
        samples, pairing = image_only(bags), "image_only"
    else:
        samples, pairing = expression_only(profiles), "expression_only"

    if not samples:
        raise CohortError(
            "the cohort is empty: no sample has " + ("both modalities" if bags and profiles else "data"),
            file=sources[0] if sources else None,
            expected="at least one sample" + (" (check the manifest ids)" if pairing == "paired" else ""),
        )
    _check_unique_ids(samples)
    present = {s.label for s in samples}
    classes = tuple(data.classes) if data.classes else tuple(sorted(present))
    expression = None
    if table is not None and pairing != "image_only":
        used = sorted({s.expression_id for s in samples if s.expression_id is not None})
        expression = table.values.loc[used]
    source_by_image = {path: source_of[bag.bag_id][1] for bag in bags for path in bag.images}
    image_sources = {s.sample_id: image_source(source_by_image[s.images[0]], s.images[0]) for s in samples if s.images}
    return Cohort(
        name=config.name,
        samples=samples,
        classes=classes,
        expression=expression,
        pairing=pairing,
        synthetic=any(is_synthetic(p if p.is_dir() else p.parent) for p in sources),
        gene_symbols=table.gene_symbols if table is not None else {},
        unpaired=unpaired,
        excluded=excluded,
        sources=sources,
        ignored=ignored,
        image_sources=image_sources,
        expression_sources={} if table is None else {e: Path(f).name for e, (f, _) in table.origin.items()},
    )


def image_source(source: ImageSource, path: Path) -> str:
    """The source an image counts as for the confound check: its C-NMC fold folder (``<root>/<fold>/<class>/``),
    else the image root (one folder of classes, or a flat folder with a labels CSV)."""
    parts = path.relative_to(source.root).parts[:-1]
    if source.format == "cnmc" and len(parts) >= 2:
        return f"{source.root.name}/{parts[0]}"
    return source.root.name


def _image_bags(
    source: ImageSource, mapper: ClassMapper, excluded: list[str], ignored: list[Ignored]
) -> list[ImageBag]:
    records = read_cnmc(source, ignored) if source.format == "cnmc" else read_image_folder(source, ignored)
    kept: list[tuple[ImageRecord, str]] = []
    for record in records:
        label = mapper(record.label, file=record.path)
        if label is None:
            excluded.append(f"image {record.path}")
        else:
            kept.append((record, label))
    if source.bag_by == "image":
        return [ImageBag(r.name, r.subject, label, (r.path,)) for r, label in kept]
    by_subject: dict[str, list[tuple[ImageRecord, str]]] = defaultdict(list)
    for record, label in kept:
        by_subject[record.subject].append((record, label))
    bags = []
    for subject in sorted(by_subject):
        items = by_subject[subject]
        labels = {label for _, label in items}
        if len(labels) > 1:
            first = {label: record.path for record, label in reversed(items)}
            detail = ", ".join(f"'{label}' ({path})" for label, path in sorted(first.items()))
            raise CohortError(
                f"subject '{subject}' has images of different classes: {detail}",
                file=source.root,
                expected="one class per subject with bag_by: subject (or bag_by: image)",
            )
        bags.append(ImageBag(subject, subject, items[0][1], tuple(r.path for r, _ in items)))
    return bags


def _check_unique_ids(samples: list[Sample]) -> None:
    seen: dict[str, Sample] = {}
    for sample in samples:
        if sample.sample_id in seen:
            first = seen[sample.sample_id]
            where = first.images[0] if first.images else first.expression_id
            raise CohortError(
                f"duplicate sample id '{sample.sample_id}' (also {where})",
                file=sample.images[0] if sample.images else None,
                expected="unique sample ids (file names must be unique across folders with bag_by: image)",
            )
        seen[sample.sample_id] = sample
