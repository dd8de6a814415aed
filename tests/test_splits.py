"""Patient-grouped, stratified folds with an inner validation split."""

from __future__ import annotations

from collections import Counter

import pytest

from leukmodel.data.cohort import Cohort, Sample
from leukmodel.errors import CohortError
from leukmodel.training import folds_table, make_folds, split_groups, validation_split


def cohort(patients_per_class: dict[str, int], samples_per_patient: int = 3) -> Cohort:
    samples = [
        Sample(f"{label}-p{p}-s{s}", f"{label}-p{p}", label)
        for label, n in patients_per_class.items()
        for p in range(n)
        for s in range(samples_per_patient)
    ]
    return Cohort("toy", samples, tuple(patients_per_class), pairing="image_only")


COHORT = cohort({"ALL": 8, "AML": 10, "CLL": 6, "CML": 7})


def test_no_patient_in_two_folds_and_every_sample_tested_once():
    folds = make_folds(COHORT, 5, 0.2, seed=0)
    patient = {s.sample_id: s.patient_id for s in COHORT.samples}
    tested = [sid for fold in folds for sid in fold.test]
    assert sorted(tested) == sorted(COHORT.sample_ids)
    owner = {}
    for fold in folds:
        for sid in fold.test:
            assert owner.setdefault(patient[sid], fold.index) == fold.index, "a patient is in two test folds"


def test_train_val_test_are_disjoint_by_patient():
    patient = {s.sample_id: s.patient_id for s in COHORT.samples}
    for fold in make_folds(COHORT, 5, 0.2, seed=3):
        parts = [{patient[s] for s in part} for part in (fold.train, fold.val, fold.test)]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
        assert len(fold.train) + len(fold.val) + len(fold.test) == len(COHORT)
        assert fold.val, "every fold has a validation part"


def test_folds_are_stratified():
    label = {s.sample_id: s.label for s in COHORT.samples}
    for fold in make_folds(COHORT, 5, 0.2, seed=0):
        assert set(Counter(label[s] for s in fold.test)) == set(COHORT.classes)
        assert set(Counter(label[s] for s in fold.train)) == set(COHORT.classes)


def test_deterministic_per_seed():
    assert make_folds(COHORT, 5, 0.2, seed=7) == make_folds(COHORT, 5, 0.2, seed=7)
    assert make_folds(COHORT, 5, 0.2, seed=7) != make_folds(COHORT, 5, 0.2, seed=8)


def test_class_too_small_for_the_folds_is_a_named_error():
    small = cohort({"ALL": 8, "AML": 3})
    with pytest.raises(CohortError) as err:
        make_folds(small, 5, 0.2, seed=0)
    assert "AML" in str(err.value) and err.value.field == "cv.n_folds"


def test_validation_split_of_the_whole_cohort():
    train, val = validation_split(COHORT, 0.2, seed=0)
    patient = {s.sample_id: s.patient_id for s in COHORT.samples}
    assert not {patient[s] for s in train} & {patient[s] for s in val}
    assert sorted(train + val) == sorted(COHORT.sample_ids)
    assert 0.1 < len(val) / len(COHORT) < 0.35


def test_folds_table_lists_every_role():
    table = folds_table(make_folds(COHORT, 5, 0.2, seed=0), COHORT)
    assert len(table) == 5 * len(COHORT)
    assert (table.groupby("fold")["role"].value_counts().unstack() > 0).all().all()


def test_small_training_parts_still_get_a_validation_split():
    small = cohort({"ALL": 5, "AML": 5, "CLL": 5, "CML": 5}, samples_per_patient=1)
    for fold in make_folds(small, 5, 0.2, seed=0):
        assert fold.val and fold.train


def test_samples_sharing_an_expression_profile_stay_together():
    samples = [
        Sample(s.sample_id, s.patient_id, s.label, expression_id=f"x-{s.label}-{int(s.patient_id.split('-p')[1]) // 2}")
        for s in COHORT.samples
    ]
    shared = Cohort("toy", samples, COHORT.classes, pairing="label_matched")
    profile = {s.sample_id: s.expression_id for s in samples}
    for fold in make_folds(shared, 3, 0.2, seed=0):
        parts = [{profile[s] for s in part} for part in (fold.train, fold.val, fold.test)]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]


def test_groups_are_patients_when_nothing_is_shared():
    assert list(split_groups(COHORT)) == [s.patient_id for s in COHORT.samples]


def test_too_few_groups_counts_patients_linked_by_a_shared_profile_as_one():
    """Six CLL patients that share three profiles are three independent groups: too few for five folds."""
    samples = [
        Sample(s.sample_id, s.patient_id, s.label, expression_id=f"x-{s.patient_id}")
        if s.label != "CLL"
        else Sample(s.sample_id, s.patient_id, s.label, expression_id=f"x-CLL-{int(s.patient_id.split('-p')[1]) // 2}")
        for s in COHORT.samples
    ]
    shared = Cohort("toy", samples, COHORT.classes, pairing="label_matched")
    with pytest.raises(CohortError, match=r"class 'CLL' has 3 independent patient group\(s\) \(6 patients, linked"):
        make_folds(shared, 5, 0.2, seed=0)
    assert len(make_folds(shared, 3, 0.2, seed=0)) == 3
