"""The readers on the real sample files and on the other layouts users bring."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from leukmodel.config import config_from_dict
from leukmodel.data import build_cohort, summarize
from leukmodel.data.cnmc import parse_cnmc_name
from leukmodel.data.images import read_rgb

CNMC_MAP = {"all": "ALL", "hem": "normal"}


def cohort_of(tmp_path: Path, data: dict, **extra):
    return build_cohort(config_from_dict({"name": "t", "data": data, **extra}, base_dir=tmp_path))


def to_v5_header(src: Path, dst: Path) -> None:
    """Rewrite a BITMAPINFOHEADER (40-byte) BMP with a 124-byte BITMAPV5HEADER, as some C-NMC test files have."""
    blob = src.read_bytes()
    offset = struct.unpack_from("<I", blob, 10)[0]
    info = bytearray(blob[14:54])
    pixels = blob[offset:]
    v5 = bytearray(124)
    v5[:40] = info
    struct.pack_into("<I", v5, 0, 124)
    struct.pack_into("<I", v5, 56, 0x73524742)  # bV5CSType = 'sRGB'
    header = bytearray(blob[:14])
    struct.pack_into("<I", header, 2, 14 + 124 + len(pixels))
    struct.pack_into("<I", header, 10, 14 + 124)
    dst.write_bytes(bytes(header + v5 + pixels))


def test_real_cnmc_sample_by_subject(cnmc_sample, tmp_path):
    cohort = cohort_of(tmp_path, {"images": {"root": str(cnmc_sample), "class_map": CNMC_MAP}})
    assert cohort.pairing == "image_only"
    assert cohort.classes == ("ALL", "normal")
    by_id = {s.sample_id: s for s in cohort.samples}
    assert set(by_id) == {"1", "H6"}
    assert by_id["1"].label == "ALL" and len(by_id["1"].images) == 3
    assert by_id["H6"].label == "normal" and by_id["H6"].patient_id == "H6"
    assert not cohort.synthetic


def test_real_cnmc_sample_by_image(cnmc_sample, tmp_path):
    cohort = cohort_of(tmp_path, {"images": {"root": str(cnmc_sample), "bag_by": "image", "class_map": CNMC_MAP}})
    assert len(cohort) == 6
    assert {s.patient_id for s in cohort.samples} == {"1", "H6"}
    assert all(len(s.images) == 1 for s in cohort.samples)


def test_real_cnmc_image_is_a_cell_on_black(cnmc_sample):
    rgb = read_rgb(cnmc_sample / "all" / "UID_1_3_1_all.bmp")
    assert rgb.shape == (450, 450, 3) and rgb.dtype == np.uint8
    black = (rgb.max(axis=2) == 0).mean()
    assert 0.6 < black < 0.9


@pytest.mark.parametrize(
    ("name", "subject", "token"),
    [("UID_11_10_1_all.bmp", "11", "all"), ("UID_H6_5_1_hem.bmp", "H6", "hem"), ("UID_h3_6_1_hem.bmp", "H3", "hem")],
)
def test_cnmc_names(name, subject, token):
    assert parse_cnmc_name(name) == (subject, token)


def test_lower_case_h_png_and_v5_header_read(cnmc_sample, tmp_path):
    root = tmp_path / "fold_0"
    (root / "hem").mkdir(parents=True)
    (root / "all").mkdir()
    shutil.copy(cnmc_sample / "hem" / "UID_H6_5_1_hem.bmp", root / "hem" / "UID_h3_6_1_hem.bmp")
    to_v5_header(cnmc_sample / "hem" / "UID_H6_7_1_hem.bmp", root / "hem" / "UID_H3_7_1_hem.bmp")
    rgb = read_rgb(cnmc_sample / "all" / "UID_1_3_1_all.bmp")
    cv2.imwrite(str(root / "all" / "UID_1_3_1_all.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert (root / "hem" / "UID_H3_7_1_hem.bmp").stat().st_size == 608_538
    assert np.array_equal(
        read_rgb(root / "hem" / "UID_H3_7_1_hem.bmp"), read_rgb(cnmc_sample / "hem" / "UID_H6_7_1_hem.bmp")
    )
    assert np.array_equal(read_rgb(root / "all" / "UID_1_3_1_all.png"), rgb)
    cohort = cohort_of(tmp_path, {"images": {"root": str(tmp_path), "class_map": CNMC_MAP}})
    by_id = {s.sample_id: s for s in cohort.samples}
    assert set(by_id) == {"1", "H3"}
    assert len(by_id["H3"].images) == 2


def test_cnmc_test_phase_with_crlf_labels(cnmc_sample, tmp_path):
    folder = tmp_path / "C-NMC_test_prelim_phase_data"
    folder.mkdir()
    shutil.copy(cnmc_sample / "all" / "UID_1_3_1_all.bmp", folder / "1.bmp")
    shutil.copy(cnmc_sample / "hem" / "UID_H6_5_1_hem.bmp", folder / "2.bmp")
    labels = tmp_path / "C-NMC_test_prelim_phase_data_labels.csv"
    labels.write_bytes(b"Patient_ID,new_names,labels\r\nUID_57_29_1_all.bmp,1.bmp,1\r\nUID_H6_5_1_hem.bmp,2.bmp,0\r\n")
    cohort = cohort_of(
        tmp_path,
        {"images": {"root": str(folder), "labels_csv": str(labels), "bag_by": "image", "class_map": CNMC_MAP}},
    )
    by_id = {s.sample_id: s for s in cohort.samples}
    assert by_id["UID_57_29_1_all"].patient_id == "57" and by_id["UID_57_29_1_all"].label == "ALL"
    assert by_id["UID_H6_5_1_hem"].images == (folder / "2.bmp",)


def test_real_cumida_sample(cumida_sample, tmp_path):
    cohort = cohort_of(tmp_path, {"expression": {"files": [str(cumida_sample)]}})
    assert cohort.pairing == "expression_only"
    assert len(cohort) == 5
    assert len(cohort.genes) == 22_283
    assert cohort.genes[:2] == ["1007_s_at", "1053_at"]
    values = cohort.expression_matrix()
    assert values.dtype == np.float32
    assert values.min() > 1.5 and values.max() < 15
    assert "B-CELL_ALL_HYPERDIP" in cohort.classes


def test_cumida_files_combined_and_classes_mapped(cumida_sample, tmp_path):
    frame = pd.read_csv(cumida_sample)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    frame.iloc[:3].to_csv(first, index=False)
    other = frame.iloc[3:].copy()
    other = other.drop(columns=["1007_s_at"])  # a second platform lacking one probe
    other.to_csv(second, index=False)
    class_map = {t: ("T-ALL" if "T-ALL" in t else "B-ALL") for t in frame["type"]}
    class_map["B-CELL_ALL_HYPO"] = None
    cohort = cohort_of(tmp_path, {"expression": {"files": [str(first), str(second)], "class_map": class_map}})
    assert len(cohort.genes) == 22_282
    assert set(cohort.classes) <= {"B-ALL", "T-ALL"}
    assert len(cohort) == 4
    assert len(cohort.excluded) == 1


def test_generic_matrix_genes_by_samples_golub_style(tmp_path):
    matrix = tmp_path / "golub.tsv"
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(6)]
    table = pd.DataFrame({"Gene Description": [f"desc {g}" for g in genes], "Gene Accession Number": genes})
    for patient in ("1", "2", "3"):
        table[patient] = rng.integers(-50, 3000, len(genes))
        table[f"call.{patient}"] = "P"
    table.to_csv(matrix, sep="\t", index=False)
    labels = tmp_path / "labels.csv"
    labels.write_text("sample,label\n1,ALL\n2,AML\n3,ALL\n")
    cohort = cohort_of(
        tmp_path,
        {
            "expression": {
                "format": "matrix",
                "files": [str(matrix)],
                "orientation": "genes_x_samples",
                "gene_column": "Gene Accession Number",
                "ignore_columns": ["^call", "^Gene Description$"],
                "labels_file": str(labels),
            }
        },
    )
    assert cohort.genes == genes
    assert [s.label for s in cohort.samples] == ["ALL", "AML", "ALL"]
    assert cohort.expression_matrix().shape == (3, 6)


def test_paired_manifest_and_summary(cnmc_sample, cumida_sample, tmp_path):
    frame = pd.read_csv(cumida_sample).iloc[:2].copy()
    frame["samples"] = ["GSM1", "GSM2"]
    frame["type"] = ["ALL", "normal"]
    expression = tmp_path / "expr.csv"
    frame.to_csv(expression, index=False)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("patient_id,image_subject,expression_sample\nP1,1,GSM1\nP6,H6,GSM2\nP9,9,GSM9\n")
    cohort = cohort_of(
        tmp_path,
        {
            "images": {"root": str(cnmc_sample), "class_map": CNMC_MAP},
            "expression": {"files": [str(expression)]},
            "pairing": {"mode": "paired", "manifest": str(manifest)},
        },
    )
    assert cohort.pairing == "paired"
    assert [(s.sample_id, s.expression_id, len(s.images)) for s in cohort.samples] == [
        ("P1", "GSM1", 3),
        ("P6", "GSM2", 3),
    ]
    assert [u.record_id for u in cohort.unpaired] == ["P9"]
    text = summarize(cohort).to_text()
    assert "pairing: paired" in text and "left out, missing a modality: 1" in text


def test_label_matched_is_seeded_recorded_and_never_shares_a_profile_across_groups(tmp_path):
    root = tmp_path / "images"
    for subject, cls in [(1, "all"), (2, "all"), (3, "all"), (4, "hem"), (5, "hem")]:
        (root / cls).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / cls / f"UID_{subject}_1_1_{cls}.bmp"), np.full((8, 8, 3), 100, np.uint8))
    expression = tmp_path / "expr.csv"
    expression.write_text("samples,type,p1,p2\nE1,all,5.0,6.0\nE2,all,5.5,6.1\nE3,hem,7.0,2.0\n")
    data = {
        "images": {"root": str(root)},
        "expression": {"files": [str(expression)]},
        "pairing": {"mode": "label_matched", "seed": 3},
    }
    first = cohort_of(tmp_path, data)
    again = cohort_of(tmp_path, data)
    assert first.pairing == "label_matched" and first.tags()["pairing"] == "label_matched"
    assert first.pairing_table().equals(again.pairing_table())
    for sample in first.samples:
        assert first.expression.loc[sample.expression_id].shape == (2,)
    groups: dict[str, set[str]] = {}
    for sample in first.samples:
        groups.setdefault(sample.expression_id, set()).add(sample.patient_id)
    assert all(len(g) == 1 for g in groups.values()), "a drawn profile is shared by two patient groups"
    hem = [s for s in first.samples if s.label == "hem"]
    assert hem[0].patient_id == hem[1].patient_id == "4+5"
