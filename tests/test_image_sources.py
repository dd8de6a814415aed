"""Several image sources in one cohort: the C-NMC training folds and the preliminary-test layout, from real files."""

from __future__ import annotations

import shutil

import pytest

from leukmodel.config import config_from_dict
from leukmodel.data import build_cohort
from leukmodel.errors import CohortError, ConfigError

PRELIM = {"UID_1_9_1_all.bmp": ("1.bmp", 1), "UID_H6_7_1_hem.bmp": ("2.bmp", 0)}


def cnmc_release(tmp_path, cnmc_sample):
    """``C-NMC_training_data/fold_0/all|hem`` and ``C-NMC_test_prelim_phase_data`` with its CRLF labels CSV."""
    training = tmp_path / "C-NMC_training_data"
    prelim = tmp_path / "C-NMC_test_prelim_phase_data"
    prelim.mkdir(parents=True)
    rows = ["Patient_ID,new_names,labels"]
    for image in sorted(cnmc_sample.glob("*/*.bmp")):
        if image.name in PRELIM:
            new_name, label = PRELIM[image.name]
            shutil.copy(image, prelim / new_name)
            rows.append(f"{image.name},{new_name},{label}")
        else:
            (training / "fold_0" / image.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(image, training / "fold_0" / image.parent.name / image.name)
    labels = tmp_path / "C-NMC_test_prelim_phase_data_labels.csv"
    labels.write_bytes(("\r\n".join(rows) + "\r\n").encode())
    return training, prelim, labels


def images_config(tmp_path, cnmc_sample, bag_by):
    training, prelim, labels = cnmc_release(tmp_path, cnmc_sample)
    classes = {"all": "ALL", "hem": "normal"}
    return config_from_dict(
        {
            "data": {
                "images": [
                    {"root": str(training), "bag_by": bag_by, "class_map": classes},
                    {"root": str(prelim), "labels_csv": str(labels), "bag_by": bag_by, "class_map": classes},
                ]
            }
        }
    )


def test_training_folds_and_prelim_test_form_one_cohort(tmp_path, cnmc_sample):
    cohort = build_cohort(images_config(tmp_path, cnmc_sample, "image"))
    assert sorted(s.sample_id for s in cohort.samples) == [
        "UID_1_3_1_all", "UID_1_8_1_all", "UID_1_9_1_all", "UID_H6_14_1_hem", "UID_H6_5_1_hem", "UID_H6_7_1_hem",
    ]  # fmt: skip
    by_id = {s.sample_id: s for s in cohort.samples}
    assert by_id["UID_1_9_1_all"].label == "ALL" and by_id["UID_1_9_1_all"].images[0].name == "1.bmp"
    assert cohort.image_sources["UID_1_9_1_all"] == "C-NMC_test_prelim_phase_data"
    assert cohort.image_sources["UID_1_3_1_all"] == "C-NMC_training_data/fold_0"
    assert cohort.pairing == "image_only" and cohort.class_counts() == {"ALL": 3, "normal": 3}


def test_a_sample_id_in_two_sources_is_a_named_error(tmp_path, cnmc_sample):
    with pytest.raises(CohortError) as err:
        build_cohort(images_config(tmp_path, cnmc_sample, "subject"))  # subject 1 and H6 are in both sources
    message = str(err.value)
    assert "sample id '1' comes from two image sources: data.images[0]" in message
    assert "C-NMC_training_data" in message and "C-NMC_test_prelim_phase_data" in message
    assert err.value.field == "data.images[1]"


def test_unknown_key_in_a_listed_source_is_named():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"images": [{"root": "/data"}, {"root": "/x", "bag_bye": "image"}]}})
    assert err.value.field == "data.images.1.bag_bye" and "did you mean 'bag_by'" in str(err.value)
