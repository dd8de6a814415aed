"""The synthetic cohort generator: layout, determinism, image and expression formats, the planted signal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leukmodel.config import SyntheticConfig, load_config
from leukmodel.data.build import build_cohort
from leukmodel.data.images import read_rgb
from leukmodel.data.synthetic import (
    MARKER_GENES,
    MARKER_NAME,
    class_signals,
    cohort_image,
    is_synthetic,
    is_written,
    marker_probes,
    module_probes,
    plan_patients,
    probe_annotation,
    write_synthetic_cohort,
)
from leukmodel.data.synthetic.expression import expression_profiles, platform
from leukmodel.data.synthetic.plan import ClassSignal, Patient, patients_per_class
from leukmodel.data.synthetic.writer import tile_size
from leukmodel.errors import LeukInputError
from leukmodel.owned import RECORD_NAME, NotOursError

CNMC_NAME = re.compile(r"UID_(?P<subject>[^_]+)_(?P<image>\d+)_(?P<cell>\d+)_(?P<label>[a-z0-9-]+)\.bmp")
SMALL = SyntheticConfig(patients=8, images_per_patient=2, image_size=128, n_genes=200, seed=3)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cohort(tmp_path_factory.mktemp("synthetic") / "cohort", SMALL).parent


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _nucleus_fraction(image: np.ndarray) -> float:
    """Share of the image's pixels that are dark purple chromatin (the darkest, least green stained pixels)."""
    r, g, b = (image[..., k].astype(int) for k in range(3))
    return float(np.mean((g < 100) & (b > 80) & (b > r)))


def test_same_config_gives_identical_files(tmp_path: Path, cohort: Path) -> None:
    again = write_synthetic_cohort(tmp_path / "elsewhere", SMALL).parent
    first, second = _files(cohort), _files(again)
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)


def test_layout_and_cnmc_names(cohort: Path) -> None:
    expected = {MARKER_NAME, RECORD_NAME, "images", "expression", "manifest.csv", "config.yaml"}
    assert {p.name for p in cohort.iterdir()} == expected
    assert {p.name for p in (cohort / "expression").iterdir()} == {"synthetic_cumida.csv", "annotation.csv"}
    folds: dict[str, set[str]] = {}
    for path in (cohort / "images").rglob("*.bmp"):
        match = CNMC_NAME.fullmatch(path.name)
        assert match, path.name
        assert path.parent.name == match["label"] and match["cell"] == "1"
        assert re.fullmatch(r"fold_[012]", path.parent.parent.name)
        folds.setdefault(match["subject"], set()).add(path.parent.parent.name)
    assert sorted(folds, key=int) == [str(i) for i in range(1, SMALL.patients + 1)]
    assert all(len(f) == 1 for f in folds.values()), "a patient's images sit in one fold"
    assert len(list((cohort / "images").rglob("*.bmp"))) == SMALL.patients * SMALL.images_per_patient
    manifest = pd.read_csv(cohort / "manifest.csv", dtype=str)
    assert list(manifest.columns) == ["patient_id", "image_subject", "expression_sample"]
    assert manifest["patient_id"].tolist() == manifest["image_subject"].tolist() == [str(i) for i in range(1, 9)]
    assert manifest["expression_sample"].tolist() == [f"SYN{i:04d}" for i in range(1, 9)]


def test_images_are_24_bit_rgb_of_the_requested_size(cohort: Path) -> None:
    for path in (cohort / "images").rglob("*.bmp"):
        data = path.read_bytes()
        assert data[:2] == b"BM" and int.from_bytes(data[28:30], "little") == 24
        assert read_rgb(path).shape == (SMALL.image_size, SMALL.image_size, 3)


def test_segmented_is_mostly_black_and_smear_is_pale() -> None:
    patient = plan_patients(SMALL)[0]
    for image in range(1, 6):
        segmented, _ = cohort_image(SMALL, patient, image, "segmented")
        smear, _ = cohort_image(SMALL, patient, image, "smear")
        assert 0.6 < np.mean(segmented.max(axis=2) == 0) < 0.9
        assert np.all(np.median(smear.reshape(-1, 3), axis=0) > 190), "a pale pinkish background"
        assert np.mean(smear.max(axis=2) == 0) == 0


def test_mixed_style_is_drawn_per_image(cohort: Path) -> None:
    styles = [cohort_image(SMALL, p, i)[1] for p in plan_patients(SMALL) for i in (1, 2)]
    assert set(styles) == {"segmented", "smear"}
    for patient in plan_patients(SMALL.model_copy(update={"style": "smear"})):
        assert cohort_image(SMALL.model_copy(update={"style": "smear"}), patient, 1)[1] == "smear"


def test_nothing_but_the_planted_signal_depends_on_the_class() -> None:
    cfg = SMALL.model_copy(update={"signal": 0.0})
    blast_lymphoid = Patient(5, ClassSignal("ALL", 0, 0), 0)
    mature_myeloid = Patient(5, ClassSignal("CML", 1, 1), 2)
    for image in (1, 2, 3):
        assert np.array_equal(cohort_image(cfg, blast_lymphoid, image)[0], cohort_image(cfg, mature_myeloid, image)[0])
    profiles = expression_profiles([blast_lymphoid, mature_myeloid], n_genes=200, seed=3, signal=0.0, noise=1.0)
    assert np.array_equal(profiles[0], profiles[1])


def test_morphology_signal_blast_nuclei_are_larger() -> None:
    cfg = SyntheticConfig(image_size=96, seed=1)
    for style in ("segmented", "smear"):
        fraction = {
            group: np.mean(
                [
                    _nucleus_fraction(cohort_image(cfg, Patient(p, ClassSignal("X", group, 0), 0), 1, style)[0])
                    for p in range(1, 25)
                ]
            )
            for group in (0, 1)
        }
        assert fraction[0] > 1.6 * fraction[1], (style, fraction)


def test_expression_signal_on_one_axis_only() -> None:
    cfg = SyntheticConfig(patients=80, n_genes=200, seed=2)
    patients = plan_patients(cfg)
    values = expression_profiles(patients, n_genes=200, seed=2, signal=1.0, noise=1.0)
    lymphoid = platform(200).module == 0
    score = pd.Series(values[:, lymphoid].mean(axis=1)).groupby([p.label for p in patients]).mean()
    across = score["ALL"] - score["AML"]
    assert across > 0.5 and score["CLL"] - score["CML"] > 0.5
    assert abs(score["ALL"] - score["CLL"]) < 0.2 * across
    assert abs(score["AML"] - score["CML"]) < 0.2 * across


def test_expression_csv_is_cumida_layout_with_log2_values(cohort: Path) -> None:
    table = pd.read_csv(cohort / "expression" / "synthetic_cumida.csv")
    assert list(table.columns[:2]) == ["samples", "type"]
    assert list(table.columns[2:]) == platform(SMALL.n_genes).probes
    assert table.columns[2] == "100001_at"
    assert set(table["type"]) <= set(SMALL.classes)
    values = table.iloc[:, 2:].to_numpy()
    assert values.dtype == np.float64 and values.min() >= 2.0 and values.max() <= 14.0
    annotation = pd.read_csv(cohort / "expression" / "annotation.csv")
    assert list(annotation.columns) == ["ID", "Gene Symbol"]
    assert annotation.equals(probe_annotation(SMALL.n_genes))


def test_marker_probes_name_the_planted_genes() -> None:
    symbols = dict(probe_annotation(2000).itertuples(index=False))
    markers = marker_probes(2000)
    assert set(markers) == set(MARKER_GENES)
    for module, probes in markers.items():
        assert len(probes) == 2 * len(MARKER_GENES[module])
        assert {symbols[p] for p in probes} == set(MARKER_GENES[module])
        assert set(probes) < set(module_probes(2000)[module])
    assert len(probe_annotation(20)) == 20 and all(marker_probes(20).values())


def test_class_balance_is_respected(tmp_path: Path) -> None:
    assert patients_per_class(10, [0.5, 0.3, 0.2], 3) == [5, 3, 2]
    assert patients_per_class(4, [0.97, 0.01, 0.01, 0.01], 4) == [1, 1, 1, 1]
    assert patients_per_class(7, None, 4) == [2, 2, 2, 1]
    cfg = SMALL.model_copy(update={"patients": 12, "class_balance": [3.0, 1.0, 1.0, 1.0]})
    counts = pd.Series([p.label for p in plan_patients(cfg)]).value_counts().to_dict()
    assert counts == {"ALL": 6, "AML": 2, "CLL": 2, "CML": 2}
    marker = json.loads((write_synthetic_cohort(tmp_path, cfg).parent / MARKER_NAME).read_text())
    assert {c: v["patients"] for c, v in marker["classes"].items()} == counts
    assert marker["classes"]["CLL"] == {"morphology": "mature", "expression": "lymphoid module up", "patients": 2}


def test_config_yaml_loads_with_relative_paths_only(cohort: Path) -> None:
    text = (cohort / "config.yaml").read_text()
    assert str(cohort) not in text
    raw = yaml.safe_load(text)
    assert raw["data"]["images"]["root"] == "images" and raw["data"]["pairing"]["manifest"] == "manifest.csv"
    config = load_config(cohort / "config.yaml")
    assert config.synthetic == SMALL.model_copy(update={"root": cohort})
    assert config.data.images.root == cohort / "images"
    assert config.data.expression.files == [cohort / "expression" / "synthetic_cumida.csv"]
    assert config.features.cache_dir == cohort / "feature-cache" and config.output_dir == cohort / "runs"
    assert config.tiles.patch_size == 64
    assert [tile_size(s) for s in (32, 100, 128, 300, 447, 448, 450)] == [16, 32, 64, 128, 128, 224, 224]


def test_build_cohort_reads_the_generated_cohort(cohort: Path) -> None:
    built = build_cohort(load_config(cohort / "config.yaml"))
    assert built.synthetic and built.pairing == "paired"
    assert built.classes == tuple(SMALL.classes) and len(built) == SMALL.patients
    expected = {str(p.number): p.label for p in plan_patients(SMALL)}
    assert {s.patient_id: s.label for s in built.samples} == expected
    assert all(len(s.images) == SMALL.images_per_patient for s in built.samples)
    assert built.expression is not None and built.expression.shape == (SMALL.patients, SMALL.n_genes)
    assert {built.gene_symbols[p] for p in marker_probes(SMALL.n_genes)["myeloid"]} <= set(MARKER_GENES["myeloid"])


def test_is_synthetic_looks_up_to_three_levels(cohort: Path, tmp_path: Path) -> None:
    assert is_synthetic(cohort)
    assert is_synthetic(cohort / "images")
    assert is_synthetic(cohort / "expression" / "synthetic_cumida.csv")
    assert is_synthetic(next((cohort / "images").rglob("*.bmp")))
    assert not is_synthetic(tmp_path)


def test_rewrite_replaces_a_synthetic_cohort_and_refuses_other_folders(tmp_path: Path) -> None:
    write_synthetic_cohort(tmp_path / "c", SMALL)
    (tmp_path / "c" / "notes.txt").write_text("mine")
    (tmp_path / "c" / "runs").mkdir()
    (tmp_path / "c" / "runs" / "result.csv").write_text("kept")
    write_synthetic_cohort(tmp_path / "c", SMALL.model_copy(update={"patients": 4, "images_per_patient": 1}))
    assert len(list((tmp_path / "c" / "images").rglob("*.bmp"))) == 4
    assert (tmp_path / "c" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "c" / "runs" / "result.csv").read_text() == "kept"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(LeukInputError, match="holds no synthetic cohort"):
        write_synthetic_cohort(tmp_path / "other", SMALL)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("images/fold_0/mine.bmp", "add"),  # a user's image inside the generated tree
        ("expression/extra.csv", "add"),  # a user's table beside the generated one
        ("expression/synthetic_cumida.csv", "edit"),  # a generated file the user changed
        ("manifest.csv", "edit"),
    ],
)
def test_rewrite_refuses_files_it_did_not_write_and_changes_nothing(tmp_path: Path, where: str, change: str) -> None:
    out = write_synthetic_cohort(tmp_path / "c", SMALL).parent
    path = out / where
    path.parent.mkdir(parents=True, exist_ok=True)
    if change == "add":
        path.write_bytes(b"the user's own file")
    else:
        path.write_text(path.read_text() + "edited by hand\n")
    before = _files(out)
    with pytest.raises(NotOursError, match=re.escape(where)):
        write_synthetic_cohort(out, SMALL.model_copy(update={"patients": 4}))
    assert _files(out) == before


def test_rewrite_after_an_interrupted_write_and_of_an_unrecorded_cohort(tmp_path: Path) -> None:
    out = write_synthetic_cohort(tmp_path / "c", SMALL).parent
    (out / "config.yaml").unlink()  # as a run killed before its last file
    next(out.rglob("*.bmp")).write_bytes(b"half")  # a claimed file left half-written would be refused...
    record = json.loads((out / RECORD_NAME).read_text())
    record["files"] = dict.fromkeys(record["files"])  # ...unless it was only claimed, as a killed run leaves it
    (out / RECORD_NAME).write_text(json.dumps(record))
    assert write_synthetic_cohort(out, SMALL).is_file()
    (out / RECORD_NAME).unlink()
    with pytest.raises(NotOursError, match="did not record its files"):
        write_synthetic_cohort(out, SMALL)


def test_class_rules_and_config_errors() -> None:
    assert [(s.morphology, s.expression) for s in class_signals(["A", "B", "C", "D"])] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    assert [(s.morphology, s.expression) for s in class_signals(["A", "B"])] == [(0, 0), (0, 1)]
    for bad in (
        {"classes": ["A", "B", "C", "D", "E"]},
        {"classes": ["ALL", "all"]},
        {"classes": ["B_ALL", "AML"]},
        {"class_balance": [1.0, 1.0]},
        {"class_balance": [1.0, 0.0, 1.0, 1.0]},
        {"patients": 3},
    ):
        with pytest.raises(ValueError):
            SyntheticConfig(**bad)


def test_is_written_recognises_the_same_cohort_only(tmp_path):
    cfg = SyntheticConfig(patients=4, images_per_patient=1, image_size=64, n_genes=60, seed=3)
    assert not is_written(tmp_path / "c", cfg)
    write_synthetic_cohort(tmp_path / "c", cfg)
    assert is_written(tmp_path / "c", cfg)
    assert not is_written(tmp_path / "c", cfg.model_copy(update={"seed": 4}))
    assert not is_written(tmp_path / "c", cfg.model_copy(update={"patients": 8}))
