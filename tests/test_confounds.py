"""Class confounded with source, on real sample files: warned by validate, the cross-validation summary and report."""

from __future__ import annotations

import shutil

import pandas as pd
from click.testing import CliRunner

from leukmodel.cli import cli
from leukmodel.config import config_from_dict
from leukmodel.data import build_cohort
from leukmodel.data.confounds import confound_warnings


def two_studies(tmp_path, cumida_sample):
    """The real GSE28497 rows as one study (all ALL) and the same rows relabelled as a second, normal-only study."""
    rows = pd.read_csv(cumida_sample)
    rows.to_csv(tmp_path / "GSE28497.csv", index=False)
    rows.assign(samples=[f"N{i}" for i in range(len(rows))], type="PB").to_csv(tmp_path / "GSE9476.csv", index=False)
    return {
        "files": [str(tmp_path / "GSE28497.csv"), str(tmp_path / "GSE9476.csv")],
        "class_map": {**{t: "ALL" for t in rows["type"]}, "PB": "normal"},
    }


def cnmc_folds(tmp_path, cnmc_sample, mixed: bool):
    """C-NMC training layout from the real images: fold_0 and fold_1, each with both classes or one class each."""
    for k, name in enumerate(("all", "hem")):
        for i, image in enumerate(sorted((cnmc_sample / name).glob("*.bmp"))):
            fold = (i % 2) if mixed else k
            target = tmp_path / "C-NMC_training_data" / f"fold_{fold}" / name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(image, target / image.name)
    return {"root": str(tmp_path / "C-NMC_training_data"), "bag_by": "image"}


def test_expression_class_from_one_file_is_warned_naming_file_and_class(tmp_path, cumida_sample):
    cohort = build_cohort(config_from_dict({"data": {"expression": two_studies(tmp_path, cumida_sample)}}))
    assert confound_warnings(cohort) == [
        "expression: every 'ALL' sample comes from one source, GSE28497.csv",
        "expression: every 'normal' sample comes from one source, GSE9476.csv",
        "expression: source GSE28497.csv holds a single class, 'ALL'",
        "expression: source GSE9476.csv holds a single class, 'normal'",
    ]


def test_image_folds_with_one_class_each_are_warned(tmp_path, cnmc_sample):
    confounded = build_cohort(config_from_dict({"data": {"images": cnmc_folds(tmp_path / "a", cnmc_sample, False)}}))
    warnings = confound_warnings(confounded)
    assert "images: every 'all' sample comes from one source, C-NMC_training_data/fold_0" in warnings
    assert "images: source C-NMC_training_data/fold_1 holds a single class, 'hem'" in warnings
    mixed = build_cohort(config_from_dict({"data": {"images": cnmc_folds(tmp_path / "b", cnmc_sample, True)}}))
    assert confound_warnings(mixed) == []


def test_one_source_is_not_a_confound(cumida_sample, cnmc_sample):
    values = {"images": {"root": str(cnmc_sample)}, "expression": {"files": [str(cumida_sample)]}}
    for modality, source in values.items():
        assert confound_warnings(build_cohort(config_from_dict({"data": {modality: source}}))) == []


def test_validate_warns_about_both_modalities(tmp_path, cumida_sample, cnmc_sample):
    data = {
        "images": {**cnmc_folds(tmp_path, cnmc_sample, False), "class_map": {"all": "ALL", "hem": "normal"}},
        "expression": two_studies(tmp_path, cumida_sample),
        "pairing": {"mode": "label_matched"},
    }
    config = config_from_dict({"data": data})
    config.to_yaml(tmp_path / "config.yaml")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "config.yaml")])  # the folds check fails after
    assert "WARNING, class confounded with source: images: source C-NMC_training_data/fold_1 holds a single class" in (
        result.output
    )
    assert "WARNING, class confounded with source: expression: every 'ALL' sample comes from one source" in (
        result.output
    )
