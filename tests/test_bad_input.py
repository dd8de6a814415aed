"""Every bad input the data layer meets is a named error: it says which file, row or field, and what was expected."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from leukmodel.cli import cli
from leukmodel.config import TilesConfig, config_from_dict, load_config
from leukmodel.data import build_cohort, check_folds_feasible, check_images
from leukmodel.errors import CohortError, ConfigError, ExpressionError, ImageError


def write_cumida(path: Path, rows: list[tuple[str, str, list[object]]], probes=("p1", "p2")) -> Path:
    lines = ["samples,type," + ",".join(probes)]
    lines += [f"{sid},{label}," + ",".join(str(v) for v in values) for sid, label, values in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def expression_cohort(tmp_path: Path, *files: Path, **source):
    data = {"expression": {"files": [str(f) for f in files], **source}}
    return build_cohort(config_from_dict({"data": data}, base_dir=tmp_path))


def write_image(path: Path, value: int = 120, size: int = 16, cell: bool = True) -> Path:
    """A pale square image with (``cell``) one dark purple disc in the middle, as a stained cell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size, size, 3), 230, np.uint8) if cell else np.full((size, size, 3), value, np.uint8)
    if cell:
        cv2.circle(pixels, (size // 2, size // 2), size // 3, (150, 40, 110), -1)
    cv2.imwrite(str(path), pixels)
    return path


def test_unknown_config_key_is_named(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("data:\n  images:\n    root: x\n    bag_bye: image\n")
    with pytest.raises(ConfigError, match=r"config.yaml.*unknown key 'data.images.bag_bye'; did you mean 'bag_by'"):
        load_config(path)


def test_bad_config_value_is_named(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("data:\n  images:\n    root: x\ntiles:\n  overlap: 1.5\n")
    with pytest.raises(ConfigError, match=r"field 'tiles.overlap'"):
        load_config(path)


def test_paired_mode_without_manifest(tmp_path):
    with pytest.raises(ConfigError, match="manifest"):
        config_from_dict({"data": {"images": {"root": "i"}, "expression": {"files": ["e.csv"]}}})


def test_duplicate_sample_ids_in_one_file(tmp_path):
    f = write_cumida(tmp_path / "e.csv", [("S1", "ALL", [1, 2]), ("S2", "AML", [1, 2]), ("S1", "AML", [3, 4])])
    with pytest.raises(CohortError, match=r"e.csv, row 3: duplicate sample id 'S1' in rows \[1, 3\]"):
        expression_cohort(tmp_path, f)


def test_duplicate_sample_ids_across_files(tmp_path):
    a = write_cumida(tmp_path / "a.csv", [("S1", "ALL", [1, 2])])
    b = write_cumida(tmp_path / "b.csv", [("S1", "ALL", [1, 2])])
    with pytest.raises(CohortError, match=r"b.csv, row 1: sample 'S1' also appears in .*a.csv row 1"):
        expression_cohort(tmp_path, a, b)


def test_unknown_class_is_named_with_file_and_row(tmp_path):
    f = write_cumida(tmp_path / "e.csv", [("S1", "ALL", [1, 2]), ("S2", "Bone_Marrow", [1, 2])])
    with pytest.raises(
        CohortError, match=r"e.csv, row 2, field 'data.expression.class_map': unknown class 'Bone_Marrow'"
    ):
        expression_cohort(tmp_path, f, class_map={"ALL": "ALL"})


def test_class_outside_declared_classes(tmp_path):
    f = write_cumida(tmp_path / "e.csv", [("S1", "ALL", [1, 2]), ("S2", "CLL", [1, 2])])
    with pytest.raises(CohortError, match=r"row 2: class 'CLL' is not one of data.classes"):
        build_cohort(config_from_dict({"data": {"expression": {"files": [str(f)]}, "classes": ["ALL", "AML"]}}))


@pytest.mark.parametrize(("value", "shown"), [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf")])
def test_nan_and_inf_expression_named(tmp_path, value, shown):
    f = write_cumida(tmp_path / "e.csv", [("S1", "ALL", [1, 2]), ("S2", "AML", [3, value])])
    with pytest.raises(ExpressionError, match=rf"e.csv, row 2 \(sample 'S2'\), field 'p2': value is {shown}"):
        expression_cohort(tmp_path, f)


def test_non_numeric_expression_named(tmp_path):
    f = write_cumida(tmp_path / "e.csv", [("S1", "ALL", [1, "high"])])
    with pytest.raises(ExpressionError, match=r"row 1 \(sample 'S1'\), field 'p2': value 'high' is not a number"):
        expression_cohort(tmp_path, f)


def test_cumida_without_type_column(tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("samples,p1\nS1,1\n")
    with pytest.raises(ExpressionError, match=r"e.csv, field 'type': column 'type' is missing"):
        expression_cohort(tmp_path, f)


def test_missing_expression_file(tmp_path):
    with pytest.raises(ExpressionError, match="expression file not found"):
        expression_cohort(tmp_path, tmp_path / "absent.csv")


def test_missing_image_folder(tmp_path):
    config = config_from_dict({"data": {"images": {"root": str(tmp_path / "absent")}}})
    with pytest.raises(CohortError, match="image folder not found"):
        build_cohort(config)


def test_labels_csv_lists_a_missing_image(tmp_path):
    folder = tmp_path / "test"
    write_image(folder / "1.bmp")
    labels = tmp_path / "labels.csv"
    labels.write_text("Patient_ID,new_names,labels\r\nUID_1_1_1_all.bmp,1.bmp,1\r\nUID_2_1_1_all.bmp,2.bmp,1\r\n")
    config = config_from_dict({"data": {"images": {"root": str(folder), "labels_csv": str(labels)}}})
    with pytest.raises(CohortError, match=r"labels.csv, row 2: image '2.bmp' listed here is not in"):
        build_cohort(config)


def test_cnmc_file_name_not_following_pattern(tmp_path):
    write_image(tmp_path / "all" / "cell_0001.bmp")
    with pytest.raises(CohortError, match=r"cell_0001.bmp: file name 'cell_0001.bmp' does not follow the C-NMC"):
        build_cohort(config_from_dict({"data": {"images": {"root": str(tmp_path)}}}))


def test_subject_with_two_classes(tmp_path):
    write_image(tmp_path / "all" / "UID_5_1_1_all.bmp")
    write_image(tmp_path / "hem" / "UID_5_2_1_hem.bmp")
    with pytest.raises(CohortError, match=r"subject '5' has images of different classes"):
        build_cohort(config_from_dict({"data": {"images": {"root": str(tmp_path)}}}))


def test_duplicate_image_names_across_folds(tmp_path):
    write_image(tmp_path / "fold_0" / "all" / "UID_5_1_1_all.bmp")
    write_image(tmp_path / "fold_1" / "all" / "UID_5_1_1_all.bmp")
    config = config_from_dict({"data": {"images": {"root": str(tmp_path), "bag_by": "image"}}})
    with pytest.raises(CohortError, match=r"the image 'UID_5_1_1_all' is here twice: .*fold_0.* and .*fold_1"):
        build_cohort(config)


def paired_config(tmp_path: Path, manifest_text: str, image_class: str = "all"):
    write_image(tmp_path / "images" / image_class / f"UID_1_1_1_{image_class}.bmp")
    write_cumida(tmp_path / "e.csv", [("GSM1", "all", [1, 2])])
    (tmp_path / "manifest.csv").write_text(manifest_text)
    data = {
        "images": {"root": "images"},
        "expression": {"files": ["e.csv"]},
        "pairing": {"mode": "paired", "manifest": "manifest.csv"},
    }
    return config_from_dict({"data": data}, base_dir=tmp_path)


def test_label_mismatch_between_modalities(tmp_path):
    config = paired_config(tmp_path, "patient_id,image_subject,expression_sample\nP1,1,GSM1\n", image_class="hem")
    with pytest.raises(CohortError, match=r"manifest.csv, row 1: labels differ between modalities for patient 'P1'"):
        build_cohort(config)


def test_manifest_duplicate_patient(tmp_path):
    config = paired_config(tmp_path, "patient_id,expression_sample\n1,GSM1\n1,GSM2\n")
    with pytest.raises(CohortError, match=r"manifest.csv, row 2, field 'patient_id': '1' appears in rows \[1, 2\]"):
        build_cohort(config)


def test_manifest_missing_column(tmp_path):
    config = paired_config(tmp_path, "patient,expression_sample\n1,GSM1\n")
    with pytest.raises(CohortError, match=r"field 'patient_id': column 'patient_id' is missing"):
        build_cohort(config)


def test_empty_cohort_when_nothing_pairs(tmp_path):
    config = paired_config(tmp_path, "patient_id,image_subject,expression_sample\nP1,7,GSM1\n")
    with pytest.raises(CohortError, match="the cohort is empty"):
        build_cohort(config)


def test_class_too_small_for_folds(tmp_path):
    f = write_cumida(
        tmp_path / "e.csv",
        [(f"S{i}", "ALL", [i, 2]) for i in range(6)] + [("T1", "AML", [1, 1]), ("T2", "AML", [2, 2])],
    )
    cohort = expression_cohort(tmp_path, f)
    check_folds_feasible(cohort, 2)
    with pytest.raises(CohortError, match=r"class 'AML' has 2 independent patient group\(s\), too few for 5-fold"):
        check_folds_feasible(cohort, 5)


def image_cohort(root: Path):
    return build_cohort(config_from_dict({"data": {"images": {"root": str(root), "bag_by": "image"}}}))


def test_truncated_image_named(cnmc_sample, tmp_path):
    target = tmp_path / "all" / "UID_1_3_1_all.bmp"
    target.parent.mkdir()
    target.write_bytes((cnmc_sample / "all" / "UID_1_3_1_all.bmp").read_bytes()[:300_000])
    with pytest.raises(ImageError, match=r"UID_1_3_1_all.bmp: cannot decode the image \(corrupt, truncated"):
        check_images(image_cohort(tmp_path), TilesConfig(), progress=False)


def test_unreadable_image_named(tmp_path):
    target = tmp_path / "all" / "UID_1_3_1_all.bmp"
    target.parent.mkdir()
    target.write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="cannot decode"):
        check_images(image_cohort(tmp_path), TilesConfig(), progress=False)


def test_grayscale_and_16_bit_images_named(tmp_path):
    gray = tmp_path / "all" / "UID_1_1_1_all.png"
    gray.parent.mkdir()
    cv2.imwrite(str(gray), np.full((32, 32), 90, np.uint8))
    with pytest.raises(ImageError, match="grayscale"):
        check_images(image_cohort(tmp_path), TilesConfig(), progress=False)
    gray.unlink()
    cv2.imwrite(str(gray), np.full((32, 32, 3), 900, np.uint16))
    with pytest.raises(ImageError, match="16-bit"):
        check_images(image_cohort(tmp_path), TilesConfig(), progress=False)


def test_image_smaller_than_a_tile_when_rejecting(tmp_path):
    write_image(tmp_path / "all" / "UID_1_1_1_all.bmp", size=100)
    cohort = image_cohort(tmp_path)
    assert check_images(cohort, TilesConfig(patch_size=64, small_image="reject"), progress=False) == 1
    with pytest.raises(ImageError, match=r"image is 100x100, smaller than a 224px tile"):
        check_images(cohort, TilesConfig(small_image="reject"), progress=False)


def test_validate_cli_exits_nonzero_with_named_error(tmp_path):
    f = write_cumida(tmp_path / "e.csv", [("S1", "ALL", [1, "nan"])])
    (tmp_path / "config.yaml").write_text(f"data:\n  expression:\n    files: [{f.name}]\n")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "config.yaml")])
    assert result.exit_code != 0
    assert "e.csv, row 1 (sample 'S1'), field 'p2': value is nan" in result.output


def test_validate_cli_on_real_samples(cnmc_sample, cumida_sample, tmp_path):
    frame = pd.read_csv(cumida_sample).iloc[:2].copy()
    frame["samples"], frame["type"] = ["GSM1", "GSM2"], ["all", "hem"]
    frame.to_csv(tmp_path / "e.csv", index=False)
    shutil.copytree(cnmc_sample, tmp_path / "images")
    (tmp_path / "m.csv").write_text("patient_id,image_subject,expression_sample\nA,1,GSM1\nB,H6,GSM2\n")
    (tmp_path / "config.yaml").write_text(
        "data:\n  images: {root: images}\n  expression: {files: [e.csv]}\n  pairing: {mode: paired, manifest: m.csv}\n"
        "cv: {n_folds: 2}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "config.yaml")])
    assert result.exit_code != 0, result.output  # one patient per class is too few even for 2 folds
    assert "class 'all' has 1 independent patient group(s), too few for 2-fold" in result.output
    assert "images: all 6 readable" in result.output


# --- issue 15: nothing lost, nothing silent ------------------------------------------------------------------------


def test_synth_rerun_keeps_a_users_files_and_names_them(tmp_path):
    out = tmp_path / "cohort"
    args = ["synth", str(out), "--patients", "4", "--images-per-patient", "1", "--image-size", "64", "--genes", "40"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    mine = write_image(out / "images" / "fold_0" / "all" / "UID_99_1_1_all.bmp")
    (out / "expression" / "mine.csv").write_text("samples,type\n")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert "expression/mine.csv" in result.output and "images/fold_0/all/UID_99_1_1_all.bmp" in result.output
    assert mine.is_file() and (out / "expression" / "mine.csv").is_file()
    assert (out / "config.yaml").is_file()  # refused before anything was removed


@pytest.mark.parametrize(
    ("section", "problem"),
    [({"cv": {"models": []}}, "cv.models"), ({"cv": {"models": ["image"], "reference": "fusion"}}, "not among")],
)
def test_cv_models_and_reference_are_checked_with_the_config(section, problem):
    with pytest.raises(ConfigError, match=problem):
        config_from_dict({"data": {"images": {"root": "x"}}, **section})


@pytest.mark.parametrize("field", ["output_dir", "features.cache_dir"])
def test_output_and_cache_folders_that_are_files_fail_when_the_config_is_read(tmp_path, field):
    (tmp_path / "taken").write_text("a file of the user's")
    section, _, key = field.rpartition(".")
    values = {"data": {"images": {"root": "x"}}}
    values.update({section: {key: "taken/sub"}} if section else {key: "taken"})
    with pytest.raises(ConfigError, match=rf"field '{field}'.*taken.*(is a file|cannot be made)"):
        config_from_dict(values, base_dir=tmp_path)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize(
    "command",
    [
        ["predict", "--model", "models:/m@champion", "--expression", "e.csv"],
        ["explain", "0123abcd", "--sample", "S1"],
        ["report", "0123abcd"],
    ],
)
def test_a_tracking_server_that_is_down_is_a_named_error_within_seconds(tmp_path, command):
    import leukmodel.explain
    import leukmodel.report
    import leukmodel.serving  # noqa: F401  (imports take long on a busy machine: time only the command)

    uri = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    result = CliRunner().invoke(cli, [*command, "--tracking-uri", uri])
    assert time.monotonic() - start < 20
    assert result.exit_code != 0
    assert f"{uri}: the MLflow tracking server does not answer" in result.output


def test_a_config_naming_a_server_that_is_down_fails_at_first_contact(tmp_path):
    from leukmodel.tracking.setup import TrackingServerError, tracking_uri

    config = config_from_dict({"data": {"images": {"root": "x"}}, "tracking": {"mlflow_uri": "http://127.0.0.1:9"}})
    with pytest.raises(TrackingServerError, match="does not answer"):
        tracking_uri(config)


def test_a_duplicated_probe_column_is_named(tmp_path):
    f = write_cumida(tmp_path / "e.csv", [("S1", "ALL", [1, 2, 3])], probes=("p1", "p2", "p1"))
    with pytest.raises(ExpressionError, match=r"e.csv, field 'p1': column 'p1' appears twice .*columns 3 and 5"):
        expression_cohort(tmp_path, f)


def test_an_expression_file_with_a_header_and_no_rows_is_not_an_image_only_cohort(tmp_path):
    config = paired_config(tmp_path, "patient_id,image_subject,expression_sample\nP1,1,GSM1\n")
    (tmp_path / "e.csv").write_text("samples,type,p1,p2\n")
    with pytest.raises(CohortError, match=r"e.csv, field 'data.expression': the config names expression but"):
        build_cohort(config)


def cnmc_summary(tmp_path: Path) -> str:
    from leukmodel.data import summarize

    return summarize(image_cohort(tmp_path)).to_text()


def test_images_in_an_unknown_folder_are_listed_and_mac_metadata_is_skipped_quietly(tmp_path):
    write_image(tmp_path / "fold_0" / "all" / "UID_1_1_1_all.bmp")
    write_image(tmp_path / "fold_0" / "hem" / "UID_H2_1_1_hem.bmp")
    write_image(tmp_path / "fold_0" / "blasts" / "UID_3_1_1_all.bmp")
    (tmp_path / "__MACOSX" / "fold_0" / "all").mkdir(parents=True)
    (tmp_path / "__MACOSX" / "fold_0" / "all" / "._UID_1_1_1_all.bmp").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "fold_0" / "all" / "._UID_1_1_1_all.bmp").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "fold_0" / "notes.txt").write_text("scanned 2019")
    text = cnmc_summary(tmp_path)
    assert "ignored under the image folder: 2" in text
    assert "blasts/UID_3_1_1_all.bmp: folder 'blasts' is not a class folder (all, hem)" in text
    assert "notes.txt: not an image file" in text
    assert "MACOSX" not in text and "._UID" not in text


def test_images_behind_a_symlinked_folder_are_found_and_a_link_loop_ends(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "all"
    write_image(elsewhere / "UID_1_1_1_all.bmp")
    root = tmp_path / "root"
    write_image(root / "hem" / "UID_H2_1_1_hem.bmp")
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "hem" / "loop").symlink_to(root, target_is_directory=True)
    cohort = image_cohort(root)
    assert sorted(s.label for s in cohort.samples) == ["all", "hem"]
    assert any("already searched" in i.reason for i in cohort.ignored)


def test_one_image_under_two_extensions_is_an_error_unless_the_config_picks_one(tmp_path):
    write_image(tmp_path / "all" / "UID_1_1_1_all.bmp")
    write_image(tmp_path / "all" / "UID_1_1_1_all.png")
    write_image(tmp_path / "hem" / "UID_H2_1_1_hem.bmp")
    with pytest.raises(CohortError, match=r"several extensions: UID_1_1_1_all.bmp, UID_1_1_1_all.png"):
        image_cohort(tmp_path)
    source = {"root": str(tmp_path), "bag_by": "subject", "prefer_extension": ".png"}
    cohort = build_cohort(config_from_dict({"data": {"images": source}}))
    assert [p.name for s in cohort.samples for p in s.images] == ["UID_1_1_1_all.png", "UID_H2_1_1_hem.bmp"]
    assert [i.path.name for i in cohort.ignored] == ["UID_1_1_1_all.bmp"]


def test_manifest_ids_that_match_nothing_are_named(tmp_path):
    from leukmodel.data import summarize

    config = paired_config(tmp_path, "patient_id,image_subject,expression_sample\nP1,1,GSM1\nP2,9,GSM404\n")
    text = summarize(build_cohort(config)).to_text()
    assert "'P2' (expression sample 'GSM404' not found)" in text


def test_validate_names_blank_images_and_lists_them_when_skipped(tmp_path):
    write_image(tmp_path / "all" / "UID_1_1_1_all.bmp", size=64)
    blank = write_image(tmp_path / "all" / "UID_1_2_1_all.bmp", size=64, cell=False)
    tiles = TilesConfig(patch_size=32)
    with pytest.raises(ImageError, match=rf"{blank.name}: no foreground found"):
        check_images(image_cohort(tmp_path), tiles, progress=False)
    found: list[str] = []
    check_images(image_cohort(tmp_path), TilesConfig(patch_size=32, on_no_foreground="skip"), False, found)
    assert len(found) == 1 and blank.name in found[0]


def test_a_small_padded_image_says_its_size_and_why_padding_cannot_help(tmp_path):
    write_image(tmp_path / "all" / "UID_1_1_1_all.bmp", size=50)
    with pytest.raises(ImageError, match=r"image is 50x50 pixels.*padding reaches it only from about 71 px"):
        check_images(image_cohort(tmp_path), TilesConfig(small_image="pad"), progress=False)


def test_a_patient_whose_images_are_all_blank_is_named_with_the_image(tmp_path):
    from leukmodel.features import Bags
    from leukmodel.training.trainer import prepare_items

    write_image(tmp_path / "all" / "UID_1_1_1_all.bmp")
    cohort = image_cohort(tmp_path)
    sample = cohort.samples[0]
    bags = Bags({}, {sample.sample_id: "UID_1_1_1_all.bmp: no foreground found"})
    with pytest.raises(CohortError) as error:
        prepare_items(cohort, bags, [sample.sample_id], "image")
    message = str(error.value)
    assert f"sample '{sample.sample_id}' (patient '{sample.patient_id}')" in message
    assert "UID_1_1_1_all.bmp" in message and "featurize" not in message and "row" not in message


def test_a_class_without_data_is_named_not_blamed_on_the_folds(tmp_path):
    f = write_cumida(tmp_path / "e.csv", [(f"S{i}", "ALL", [i, 2]) for i in range(6)])
    cohort = build_cohort(config_from_dict({"data": {"expression": {"files": [str(f)]}, "classes": ["ALL", "AML"]}}))
    with pytest.raises(CohortError, match=r"field 'data.classes': class 'AML' has no samples"):
        check_folds_feasible(cohort, 2)


def test_a_weights_file_that_is_not_a_state_dict_never_suggests_unpickling(tmp_path):
    import argparse

    import torch

    from leukmodel.features.backbone import _load_local

    path = tmp_path / "weights.pt"
    torch.save({"args": argparse.Namespace(lr=1)}, path)
    with pytest.raises(ConfigError) as error:
        _load_local(torch.nn.Linear(1, 1), path)
    assert "weights.pt" in str(error.value) and "state dict" in str(error.value)
    assert "weights_only=False" not in str(error.value) and "will likely succeed" not in str(error.value)


def test_negative_expression_under_a_log_transform_names_the_file(tmp_path):
    rows = [(f"S{i}", "ALL", [200.0 * i, 500.0]) for i in range(1, 6)] + [("S6", "ALL", [-3.0, 400.0])]
    f = write_cumida(tmp_path / "e.csv", rows)
    with pytest.raises(ExpressionError, match=r"e.csv, row 6 \(sample 'S6'\), field 'p1': negative value -3"):
        expression_cohort(tmp_path, f)
    values = {"data": {"expression": {"files": [str(f)]}}, "genomic": {"log_transform": "never"}}
    assert len(build_cohort(config_from_dict(values)).samples) == 6


def test_predict_refuses_an_explanation_folder_holding_a_users_files_before_loading_a_model(tmp_path):
    (tmp_path / "explain").mkdir()
    (tmp_path / "explain" / "figure.png").write_bytes(b"the user's figure")
    (tmp_path / "e.csv").write_text("samples,p1\nS1,5\n")
    args = ["predict", "--model", str(tmp_path / "no-model"), "--expression", str(tmp_path / "e.csv")]
    result = CliRunner().invoke(cli, [*args, "--explain", str(tmp_path / "explain")])
    assert result.exit_code != 0
    assert "figure.png" in result.output and "no MLmodel" not in result.output
    assert (tmp_path / "explain" / "figure.png").read_bytes() == b"the user's figure"


def test_cv_out_that_is_a_file_fails_before_any_feature_is_computed(tmp_path):
    write_image(tmp_path / "images" / "all" / "UID_1_1_1_all.bmp")
    (tmp_path / "config.yaml").write_text("data: {images: {root: images}}\nfeatures: {cache_dir: cache}\n")
    (tmp_path / "taken").write_text("a file of the user's")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.md").write_text("the user's notes")
    for out, message in ((tmp_path / "taken" / "cv", "taken: is a file"), (tmp_path / "out", "summary.md")):
        result = CliRunner().invoke(cli, ["cv", str(tmp_path / "config.yaml"), "--out", str(out)])
        assert result.exit_code != 0 and message in result.output
    assert not (tmp_path / "cache").exists()


def test_one_cnmc_image_in_two_folders_of_a_subject_bag_is_not_counted_twice(tmp_path):
    write_image(tmp_path / "fold_0" / "all" / "UID_5_1_1_all.bmp")
    write_image(tmp_path / "png" / "all" / "UID_5_1_1_all.png")
    config = config_from_dict({"data": {"images": {"root": str(tmp_path), "bag_by": "subject"}}})
    with pytest.raises(CohortError, match=r"the image 'UID_5_1_1_all' is here twice"):
        build_cohort(config)
