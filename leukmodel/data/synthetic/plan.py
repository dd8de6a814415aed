"""Who is who in a synthetic cohort: the planted signal of each class, patients per class, folds, random streams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leukmodel.config.synthetic import SyntheticConfig

MORPHOLOGY_GROUPS = ("blast", "mature")
"""Morphology group 0 looks acute (blast), group 1 chronic (mature)."""

EXPRESSION_GROUPS = ("lymphoid", "myeloid")
"""Expression group ``k`` has the marker module ``EXPRESSION_GROUPS[k]`` up."""

N_FOLDS = 3
"""Image folders ``fold_0 .. fold_2``, as in the C-NMC training data."""

# Independent random streams: np.random.default_rng([seed, STREAM, *keys]). Keys are patient and image numbers,
# so a value never depends on the order in which the cohort is generated.
STREAM_ASSIGN, STREAM_STAIN, STREAM_IMAGE, STREAM_GENES, STREAM_EXPRESSION = range(5)


def stream(seed: int, kind: int, *keys: int) -> np.random.Generator:
    """The random generator of one stream (``kind``) and one item (``keys``) of the cohort with ``seed``."""
    return np.random.default_rng([seed, kind, *keys])


@dataclass(frozen=True)
class ClassSignal:
    """The planted signal of one class: indices into :data:`MORPHOLOGY_GROUPS` and :data:`EXPRESSION_GROUPS`."""

    name: str
    morphology: int
    expression: int

    def describe(self) -> dict[str, str]:
        return {
            "morphology": MORPHOLOGY_GROUPS[self.morphology],
            "expression": f"{EXPRESSION_GROUPS[self.expression]} module up",
        }


@dataclass(frozen=True)
class Patient:
    """One patient of the cohort: number (1-based, the C-NMC subject), class and image fold."""

    number: int
    signal: ClassSignal
    fold: int

    @property
    def label(self) -> str:
        return self.signal.name


def class_signals(classes: list[str]) -> list[ClassSignal]:
    """Class ``i`` gets morphology group ``(i // 2) % 2`` and expression group ``i % 2``.

    With four classes every (morphology, expression) pair occurs once, so each modality alone separates two
    pairs of classes and only both together name the class. With three, the third class is the only mature
    one (morphology alone finds it) and expression tells the first two apart; with two, both classes are
    blasts and only expression tells them apart. A fifth class would repeat a pair, so at most four.
    """
    if not 2 <= len(classes) <= 4:
        raise ValueError(f"a synthetic cohort has 2 to 4 classes, got {len(classes)}")
    return [ClassSignal(name, (i // 2) % 2, i % 2) for i, name in enumerate(classes)]


def patients_per_class(patients: int, weights: list[float] | None, n_classes: int) -> list[int]:
    """Split ``patients`` over the classes in proportion to ``weights`` (largest remainder, at least one each)."""
    w = np.ones(n_classes) if weights is None else np.asarray(weights, dtype=float)
    quota = w / w.sum() * patients
    counts = np.maximum(1, np.floor(quota)).astype(int)
    while counts.sum() < patients:
        counts[int(np.argmax(quota - counts))] += 1
    while counts.sum() > patients:
        spare = np.where(counts > 1, quota - counts, np.inf)
        counts[int(np.argmin(spare))] -= 1
    return counts.tolist()


def plan_patients(cfg: SyntheticConfig) -> list[Patient]:
    """Patients ``1..N`` with their class (a seeded shuffle of the class counts) and fold.

    Folds are dealt round-robin over each class's patients in a seeded order, so each fold holds a similar
    class mix and a patient's fold tells nothing about its images or profile.
    """
    signals = class_signals(cfg.classes)
    counts = patients_per_class(cfg.patients, cfg.class_balance, len(signals))
    rng = stream(cfg.seed, STREAM_ASSIGN)
    labels = rng.permutation(np.repeat(np.arange(len(signals)), counts))
    folds = np.empty(cfg.patients, dtype=int)
    dealt = 0
    for k in range(len(signals)):
        members = rng.permutation(np.flatnonzero(labels == k))
        folds[members] = (dealt + np.arange(len(members))) % N_FOLDS
        dealt += len(members)
    return [Patient(i + 1, signals[int(labels[i])], int(folds[i])) for i in range(cfg.patients)]
