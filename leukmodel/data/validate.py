"""Checks and a readable summary of a cohort, before any compute is spent on it."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from tqdm.auto import tqdm

from leukmodel.config import TilesConfig
from leukmodel.data.cohort import Cohort
from leukmodel.data.confounds import confound_warnings
from leukmodel.data.groups import split_groups
from leukmodel.data.images import read_rgb
from leukmodel.errors import CohortError, ImageError
from leukmodel.preprocessing.foreground import NoForegroundError
from leukmodel.preprocessing.tiling import tile_image

log = logging.getLogger(__name__)


def check_folds_feasible(cohort: Cohort, n_folds: int) -> None:
    """Every class needs at least ``n_folds`` split groups (patients, merged where they share an expression
    profile, see :func:`~leukmodel.data.groups.split_groups`) for a stratified, grouped split."""
    groups, labels, patients = split_groups(cohort), cohort.labels, cohort.patient_counts()
    for index, label in enumerate(cohort.classes):
        n_groups = len(set(groups[labels == index]))
        if n_groups == 0:
            raise CohortError(
                f"class '{label}' has no samples: none of the data is of this class",
                field="data.classes",
                expected="data of every class listed in data.classes (or leave the class out)",
            )
        if n_groups < n_folds:
            shared = (
                f" ({patients[label]} patients, linked by shared expression profiles)"
                if n_groups < patients[label]
                else ""
            )
            raise CohortError(
                f"class '{label}' has {n_groups} independent patient group(s){shared}, too few for "
                f"{n_folds}-fold cross-validation",
                field="cv.n_folds",
                expected=f"at least {n_folds} patients per class that share no expression profile (or fewer folds)",
            )


def check_images(
    cohort: Cohort, tiles: TilesConfig, progress: bool = True, no_foreground: list[str] | None = None
) -> int:
    """Decode and tile every image once, as featurize will; unreadable, truncated, grayscale, 16-bit or too small
    images are named errors, and so are images without a foreground tile unless ``tiles.on_no_foreground`` is
    ``skip`` (then they are added to ``no_foreground`` with the reason, or logged when no list is given).

    Returns the number of images checked.
    """
    paths = sorted({p for s in cohort.samples for p in s.images})
    for path in tqdm(paths, desc="checking images", unit="img", disable=not progress):
        rgb = read_rgb(path)
        height, width = rgb.shape[:2]
        if tiles.small_image == "reject" and min(height, width) < tiles.patch_size:
            raise ImageError(
                f"image is {width}x{height}, smaller than a {tiles.patch_size}px tile",
                file=path,
                expected=f"at least {tiles.patch_size}x{tiles.patch_size} (or tiles.small_image: pad)",
            )
        try:
            tile_image(rgb, tiles, path)
        except NoForegroundError as exc:
            if tiles.on_no_foreground == "error":
                raise
            if no_foreground is None:
                log.warning("left out (tiles.on_no_foreground: skip): %s", exc)
            else:
                no_foreground.append(str(exc))
    return len(paths)


@dataclass(frozen=True)
class CohortSummary:
    """Counts a researcher checks before running anything."""

    name: str
    pairing: str
    synthetic: bool
    classes: tuple[str, ...]
    samples: dict[str, int]
    patients: dict[str, int]
    images: dict[str, int]
    expression: dict[str, int]
    n_genes: int
    unpaired: dict[str, int]
    excluded: int
    left_out: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    confounds: tuple[str, ...] = ()

    @property
    def n_patients(self) -> int:
        return sum(self.patients.values())

    def to_text(self) -> str:
        head = f"{'class':<16}{'samples':>9}{'patients':>10}{'images':>9}{'expression':>12}"
        rows = [
            f"{c:<16}{self.samples[c]:>9}{self.patients[c]:>10}{self.images[c]:>9}{self.expression[c]:>12}"
            for c in self.classes
        ]
        total = (
            f"{'total':<16}{sum(self.samples.values()):>9}{self.n_patients:>10}"
            f"{sum(self.images.values()):>9}{sum(self.expression.values()):>12}"
        )
        modalities = [m for m, n in (("images", self.images), ("expression", self.expression)) if sum(n.values())]
        lines = [
            f"cohort: {self.name}",
            f"modalities: {', '.join(modalities)}; genes/probes: {self.n_genes}",
            f"pairing: {self.pairing}"
            + ("  [fusion results say nothing about real patients]" if self.pairing == "label_matched" else ""),
            f"synthetic data: {'yes' if self.synthetic else 'no'}",
            f"classes: {len(self.classes)}",
            head,
            *rows,
            total,
        ]
        if self.unpaired:
            detail = ", ".join(f"{n} {why}" for why, n in sorted(self.unpaired.items()))
            lines.append(f"left out, missing a modality: {sum(self.unpaired.values())} ({detail})")
            lines += _listed(self.left_out)
        else:
            lines.append("left out, missing a modality: none")
        if self.excluded:
            lines.append(f"left out by class_map (mapped to null): {self.excluded}")
        if self.ignored:
            lines.append(f"ignored under the image folder: {len(self.ignored)}")
            lines += _listed(self.ignored)
        lines += [f"WARNING, class confounded with source: {w}" for w in self.confounds]
        return "\n".join(lines)


def _listed(items: tuple[str, ...], shown: int = 10) -> list[str]:
    more = [f"  ... and {len(items) - shown} more"] if len(items) > shown else []
    return [f"  {item}" for item in items[:shown]] + more


def summarize(cohort: Cohort) -> CohortSummary:
    images: Counter[str] = Counter()
    expression: Counter[str] = Counter()
    for sample in cohort.samples:
        images[sample.label] += len(sample.images)
        expression[sample.label] += sample.expression_id is not None
    return CohortSummary(
        name=cohort.name,
        pairing=cohort.pairing,
        synthetic=cohort.synthetic,
        classes=cohort.classes,
        samples=cohort.class_counts(),
        patients=cohort.patient_counts(),
        images={c: images[c] for c in cohort.classes},
        expression={c: expression[c] for c in cohort.classes},
        n_genes=len(cohort.genes),
        unpaired=dict(Counter(f"{u.modality} only" for u in cohort.unpaired)),
        excluded=len(cohort.excluded),
        left_out=tuple(f"{u.modality} only: '{u.record_id}' ({u.reason})" for u in cohort.unpaired),
        ignored=tuple(f"{i.path}: {i.reason}" for i in cohort.ignored),
        confounds=tuple(confound_warnings(cohort)),
    )
