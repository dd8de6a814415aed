"""The unit a split never divides: samples linked by a patient or by a shared expression profile."""

from __future__ import annotations

import numpy as np

from leukmodel.data.cohort import Cohort


def split_groups(cohort: Cohort) -> np.ndarray:
    """The unit that a split never divides: samples that share a patient or an expression profile.

    Each group is named by one of its patients, so a cohort without shared profiles is grouped by patient.

    A ``label_matched`` cohort reuses a profile when a class has fewer profiles than image bags; two patients
    sharing one must stay on the same side of every split, or the test fold would contain a training profile.
    """
    parent = list(range(len(cohort)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, sample in enumerate(cohort.samples):
        keys = [("patient", sample.patient_id)]
        if sample.expression_id is not None:
            keys.append(("expression", sample.expression_id))
        for key in keys:
            parent[root(i)] = root(first.setdefault(key, i))
    return np.array([cohort.samples[root(i)].patient_id for i in range(len(cohort))])
