"""Stratified, patient-grouped cross-validation folds with an inner validation split for early stopping."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from leukmodel.data.cohort import Cohort
from leukmodel.data.groups import split_groups
from leukmodel.data.validate import check_folds_feasible
from leukmodel.errors import CohortError


@dataclass(frozen=True)
class Fold:
    """One outer fold: the test samples, and the rest split into training and validation samples.

    The validation samples decide early stopping (a refitted model trains on them after it); the test samples
    decide nothing.
    """

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]


def make_folds(cohort: Cohort, n_folds: int, val_fraction: float, seed: int) -> list[Fold]:
    """Stratified ``n_folds``-fold split grouped by patient, deterministic for a given ``seed``.

    No patient is in two folds, and no patient is in both the training and the validation part of a fold; the
    same holds for expression profiles (see :func:`split_groups`).
    Raises :class:`~leukmodel.errors.CohortError` when a class has fewer patients than folds.
    """
    check_folds_feasible(cohort, n_folds)
    ids = np.array(cohort.sample_ids)
    labels, patients = cohort.labels, split_groups(cohort)
    outer = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = []
    for index, (rest, test) in enumerate(outer.split(ids, labels, patients)):
        train, val = _holdout(labels[rest], patients[rest], val_fraction, seed + 1 + index)
        folds.append(Fold(index, tuple(ids[rest][train]), tuple(ids[rest][val]), tuple(ids[test])))
    return folds


def validation_split(cohort: Cohort, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A stratified, patient-grouped training/validation split of the whole cohort (for a final model)."""
    check_folds_feasible(cohort, 2)
    ids = np.array(cohort.sample_ids)
    train, val = _holdout(cohort.labels, split_groups(cohort), val_fraction, seed)
    return list(ids[train]), list(ids[val])


def folds_table(folds: list[Fold], cohort: Cohort) -> pd.DataFrame:
    """One row per (fold, sample): its role (train, val or test), patient and label."""
    by_id = {s.sample_id: s for s in cohort.samples}
    rows = [
        {
            "fold": fold.index,
            "role": role,
            "sample_id": sid,
            "patient_id": by_id[sid].patient_id,
            "label": by_id[sid].label,
        }
        for fold in folds
        for role, ids in (("train", fold.train), ("val", fold.val), ("test", fold.test))
        for sid in ids
    ]
    return pd.DataFrame(rows, columns=["fold", "role", "sample_id", "patient_id", "label"])


def _holdout(labels: np.ndarray, patients: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): the first split of a stratified grouped k-fold with k = round(1 / fraction).

    k is capped by the largest class (scikit-learn needs k members in some class), which enlarges the
    validation part of very small training parts.
    """
    n_splits = min(round(1 / fraction), len(np.unique(patients)), int(np.bincount(labels).max()))
    if n_splits < 2:
        raise CohortError(
            f"{len(labels)} sample(s) leave no room for a validation split (one sample per class)",
            field="cv.val_fraction",
            expected="at least two patients in some class of every training part (more patients, or fewer folds)",
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A class with fewer patients than splits is expected in small training parts: it is then absent
        # from some validation parts, which only early stopping sees.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        train, val = next(splitter.split(labels, labels, patients))
    return train, val
