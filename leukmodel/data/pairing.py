"""Joining image bags and expression profiles into samples: by manifest, by a seeded label-matched draw, or alone."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leukmodel.data.cohort import Sample, Unpaired
from leukmodel.data.tables import read_table
from leukmodel.errors import CohortError

MANIFEST_COLUMNS = ("patient_id", "expression_sample")


@dataclass(frozen=True)
class ImageBag:
    """The images of one would-be sample (a subject, or a single image), already mapped to a study class."""

    bag_id: str
    subject: str
    label: str
    images: tuple[Path, ...]


@dataclass(frozen=True)
class Profile:
    """One expression profile, already mapped to a study class, and where it was read."""

    expression_id: str
    label: str
    source: str


def pair_by_manifest(
    bags: list[ImageBag], profiles: dict[str, Profile], manifest: Path
) -> tuple[list[Sample], list[Unpaired]]:
    """Samples from a manifest that links each patient's images (by subject) to their expression profile."""
    table = _read_manifest(manifest)
    by_subject: dict[str, list[ImageBag]] = defaultdict(list)
    for bag in bags:
        by_subject[bag.subject].append(bag)
    samples: list[Sample] = []
    unpaired: list[Unpaired] = []
    linked_subjects: set[str] = set()
    linked_profiles: set[str] = set()
    for row, (patient, subject, expression_id) in enumerate(table.itertuples(index=False), start=1):
        linked_subjects.add(subject)
        linked_profiles.add(expression_id)
        profile = profiles.get(expression_id)
        patient_bags = by_subject.get(subject, [])
        if profile is None:
            unpaired.append(Unpaired(patient, "image", f"expression sample '{expression_id}' not found"))
            continue
        if not patient_bags:
            unpaired.append(Unpaired(patient, "expression", f"no images of subject '{subject}'"))
            continue
        for bag in patient_bags:
            if bag.label != profile.label:
                raise CohortError(
                    f"labels differ between modalities for patient '{patient}': images say '{bag.label}' "
                    f"({bag.images[0]}), expression says '{profile.label}' ({profile.source})",
                    file=manifest,
                    row=row,
                    expected="the same class in both modalities",
                )
            sample_id = patient if bag.bag_id == subject else bag.bag_id
            samples.append(Sample(sample_id, patient, bag.label, bag.images, expression_id))
    for subject in sorted(set(by_subject) - linked_subjects):
        unpaired.append(Unpaired(subject, "image", "subject not in the manifest"))
    for expression_id in sorted(set(profiles) - linked_profiles):
        unpaired.append(Unpaired(expression_id, "expression", "expression sample not in the manifest"))
    return samples, unpaired


def pair_by_label(bags: list[ImageBag], profiles: dict[str, Profile], seed: int) -> tuple[list[Sample], list[Unpaired]]:
    """Give every image subject a same-label expression profile by a seeded draw.

    Profiles are drawn without replacement within a class and reused only when a class has fewer profiles
    than subjects; subjects that share a profile become one patient group (``patient_id`` 'A+B'), so no
    profile crosses cross-validation folds.
    """
    rng = np.random.default_rng(seed)
    subjects_by_class: dict[str, list[str]] = defaultdict(list)
    for subject, label in sorted({(b.subject, b.label) for b in bags}):
        subjects_by_class[label].append(subject)
    profiles_by_class: dict[str, list[str]] = defaultdict(list)
    for expression_id in sorted(profiles):
        profiles_by_class[profiles[expression_id].label].append(expression_id)
    drawn: dict[str, str] = {}
    for label, subjects in subjects_by_class.items():
        pool = profiles_by_class.get(label, [])
        if not pool:
            raise CohortError(
                f"class '{label}' has images but no expression profile to match them with",
                field="data.pairing.mode",
                expected="at least one expression profile per image class in label_matched mode",
            )
        order = rng.permutation(len(pool))
        for k, subject in enumerate(subjects):
            drawn[subject] = pool[order[k % len(pool)]]
    sharing: dict[str, list[str]] = defaultdict(list)
    for subject, expression_id in drawn.items():
        sharing[expression_id].append(subject)
    group = {s: "+".join(sorted(group)) for group in sharing.values() for s in group}
    samples = [Sample(b.bag_id, group[b.subject], b.label, b.images, drawn[b.subject]) for b in bags]
    unused = sorted(set(profiles) - set(drawn.values()))
    unpaired = [Unpaired(e, "expression", "not drawn for any image subject (label_matched)") for e in unused]
    return samples, unpaired


def image_only(bags: list[ImageBag]) -> list[Sample]:
    return [Sample(b.bag_id, b.subject, b.label, b.images, None) for b in bags]


def expression_only(profiles: dict[str, Profile]) -> list[Sample]:
    return [Sample(e, e, p.label, (), e) for e, p in profiles.items()]


def _read_manifest(path: Path) -> pd.DataFrame:
    table = read_table(path, CohortError, "pairing manifest", dtype=str, keep_default_na=False)
    for column in MANIFEST_COLUMNS:
        if column not in table.columns:
            raise CohortError(
                f"column '{column}' is missing",
                file=path,
                field=column,
                expected="columns patient_id, expression_sample and optionally image_subject",
            )
    if "image_subject" not in table.columns:
        table["image_subject"] = table["patient_id"]
    table = table[["patient_id", "image_subject", "expression_sample"]].apply(lambda c: c.str.strip())
    for column in ("patient_id", "image_subject", "expression_sample"):
        duplicated = table[column][table[column].duplicated() & (table[column] != "")]
        if len(duplicated):
            rows = [i + 1 for i, v in enumerate(table[column]) if v == duplicated.iloc[0]]
            raise CohortError(
                f"'{duplicated.iloc[0]}' appears in rows {rows}",
                file=path,
                row=rows[1],
                field=column,
                expected=f"each {column} once",
            )
    return table
