"""A corpus of bad or unusual inputs a careful user stumbles into: each gives a named error or is read correctly.

No traceback, no hang, nothing silent. Every case is a few small files and runs in milliseconds.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from leukmodel.config import TilesConfig, config_from_dict, load_config
from leukmodel.data import build_cohort, check_images
from leukmodel.errors import LeukInputError

CELL = np.full((48, 48, 3), 230, np.uint8)
cv2.circle(CELL, (24, 24), 14, (150, 40, 110), -1)
TILES = TilesConfig(patch_size=32, min_foreground=0.05)


def outcome(error: str | None, action: Callable[[], object]) -> object:
    """``action()`` when no error is expected, else the check that it raises a named error matching ``error``."""
    if error is None:
        return action()
    with pytest.raises(LeukInputError, match=error):
        action()
    return None


def encoded(ext: str, pixels: np.ndarray = CELL) -> bytes:
    return cv2.imencode(ext, pixels)[1].tobytes()


def pil_bytes(mode: str, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(CELL[..., ::-1].copy()).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


def rgba(alpha: int) -> bytes:
    pixels = cv2.cvtColor(CELL, cv2.COLOR_BGR2BGRA)
    pixels[..., 3] = alpha
    return encoded(".png", pixels)


# name -> (file name, bytes, expected error text or None when the image must be read)
IMAGES: dict[str, tuple[str, bytes, str | None]] = {
    "zero-byte file": ("UID_1_1_1_all.bmp", b"", "image file is empty"),
    "truncated BMP": ("UID_1_1_1_all.bmp", encoded(".bmp")[:200], "cannot decode the image"),
    "text renamed .png": ("UID_1_1_1_all.png", b"patient notes\n", "cannot decode the image"),
    "grayscale PNG": ("UID_1_1_1_all.png", encoded(".png", CELL[..., 0]), "grayscale"),
    "16-bit PNG": ("UID_1_1_1_all.png", encoded(".png", CELL.astype(np.uint16) * 256), "16-bit"),
    "translucent RGBA PNG": ("UID_1_1_1_all.png", rgba(128), "transparent alpha"),
    "opaque RGBA PNG": ("UID_1_1_1_all.png", rgba(255), None),
    "CMYK JPEG": ("UID_1_1_1_all.jpg", pil_bytes("CMYK", "JPEG"), None),
    "palette PNG": ("UID_1_1_1_all.png", pil_bytes("P", "PNG"), None),
    "PNG named .bmp": ("UID_1_1_1_all.bmp", encoded(".png"), None),
    "upper-case extension": ("UID_1_1_1_all.BMP", encoded(".bmp"), None),
    "blank image": ("UID_1_1_1_all.bmp", encoded(".bmp", np.full((48, 48, 3), 200, np.uint8)), "no foreground"),
}


@pytest.mark.parametrize("case", list(IMAGES))
def test_image_files(tmp_path, case):
    name, data, error = IMAGES[case]
    (tmp_path / "all").mkdir()
    (tmp_path / "all" / name).write_bytes(data)
    cohort = build_cohort(config_from_dict({"data": {"images": {"root": str(tmp_path), "bag_by": "image"}}}))
    checked = outcome(error and rf"{name}: .*{error}", lambda: check_images(cohort, TILES, progress=False))
    assert checked == (1 if error is None else None)


def test_paths_with_spaces_and_unicode(tmp_path):
    folder = tmp_path / "données de Zoë" / "fold 0" / "all"
    folder.mkdir(parents=True)
    (folder / "UID_1_1_1_all.bmp").write_bytes(encoded(".bmp"))
    cohort = build_cohort(config_from_dict({"data": {"images": {"root": str(tmp_path / "données de Zoë")}}}))
    assert check_images(cohort, TILES, progress=False) == 1


def test_a_broken_image_link_is_listed(tmp_path):
    (tmp_path / "all").mkdir()
    (tmp_path / "all" / "UID_1_1_1_all.bmp").write_bytes(encoded(".bmp"))
    (tmp_path / "all" / "UID_1_2_1_all.bmp").symlink_to(tmp_path / "gone.bmp")
    cohort = build_cohort(config_from_dict({"data": {"images": {"root": str(tmp_path)}}}))
    assert [i.reason for i in cohort.ignored] == ["a broken symbolic link"]


GOOD = "samples,type,p1,p2\nS1,ALL,5.1,6.2\nS2,AML,4.9,7.0\n"

# name -> (bytes of e.csv, expected error text or None when the table must be read)
TABLES: dict[str, tuple[bytes, str | None]] = {
    "zero-byte file": (b"", "the file is empty"),
    "byte-order mark": (b"\xef\xbb\xbf" + GOOD.encode(), None),
    "CRLF line ends": (GOOD.replace("\n", "\r\n").encode(), None),
    "Latin-1 text": ("samples,type,p1\nS1,Leucémie,5\n".encode("latin-1"), "is not UTF-8 text"),
    "UTF-16 text": (GOOD.encode("utf-16"), "is not UTF-8 text"),
    "semicolons": (GOOD.replace(",", ";").encode(), "looks separated by ';'"),
    "tabs in a .csv": (GOOD.replace(",", "\t").encode(), "looks separated by tabs"),
    "type column missing": (b"samples,p1\nS1,5\n", "column 'type' is missing"),
    "empty class": (b"samples,type,p1\nS1,ALL,5\nS2,,6\n", r"row 2, field 'type': empty class"),
    "empty sample id": (b"samples,type,p1\nS1,ALL,5\n,AML,6\n", r"row 2, field 'samples': empty sample id"),
    "unnamed column with values": (b"samples,type,,p1\nS1,ALL,3,5\n", "column 3 of the header has no name"),
    "stray separator at line ends": (b"samples,type,p1,p2,\nS1,ALL,5,6,\nS2,AML,6,7,\n", None),
    "duplicated probe": (b"samples,type,p1,p1\nS1,ALL,5,6\n", "column 'p1' appears twice"),
    "header only": (b"samples,type,p1\n", "names expression but they yield no sample"),
    "text in a value": (b"samples,type,p1\nS1,ALL,high\n", "value 'high' is not a number"),
    "decimal comma": (b'samples,type,p1\nS1,ALL,"5,1"\n', "value '5,1' is not a number"),
    "longer rows than the header": (b"samples,type,p1\nS1,ALL,5,6,7\n", "more fields than the header"),
    "one row longer": (b"samples,type,p1\nS1,ALL,5\nS2,AML,6,7\n", "cannot parse the table"),
}


@pytest.mark.parametrize("case", list(TABLES))
def test_expression_tables(tmp_path, case):
    data, error = TABLES[case]
    (tmp_path / "e.csv").write_bytes(data)
    config = config_from_dict({"data": {"expression": {"files": ["e.csv"]}}}, base_dir=tmp_path)
    cohort = outcome(error and rf"e.csv.*{error}", lambda: build_cohort(config))
    if error is None:
        assert len(cohort.samples) == 2 and list(cohort.expression.columns) == ["p1", "p2"]


def test_an_expression_path_that_is_a_folder(tmp_path):
    (tmp_path / "e.csv").mkdir()
    with pytest.raises(LeukInputError, match=r"e.csv: is a folder"):
        build_cohort(config_from_dict({"data": {"expression": {"files": ["e.csv"]}}}, base_dir=tmp_path))


MANIFESTS: dict[str, tuple[bytes, str | None]] = {
    "byte-order mark": (b"\xef\xbb\xbfpatient_id,image_subject,expression_sample\nP1,1,S1\n", None),
    "zero-byte file": (b"", "the file is empty"),
    "Latin-1 text": ("patient_id,image_subject,expression_sample\nZoé,1,S1\n".encode("latin-1"), "not UTF-8"),
    "semicolons": (b"patient_id;image_subject;expression_sample\nP1;1;S1\n", "looks separated by ';'"),
    "spaces around names": (b"patient_id , image_subject , expression_sample\nP1 , 1 , S1\n", None),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_pairing_manifests(tmp_path, case):
    data, error = MANIFESTS[case]
    (tmp_path / "images" / "all").mkdir(parents=True)
    (tmp_path / "images" / "all" / "UID_1_1_1_all.bmp").write_bytes(encoded(".bmp"))
    (tmp_path / "e.csv").write_text("samples,type,p1\nS1,all,5\n")
    (tmp_path / "m.csv").write_bytes(data)
    data_section = {
        "images": {"root": "images"},
        "expression": {"files": ["e.csv"]},
        "pairing": {"mode": "paired", "manifest": "m.csv"},
    }
    config = config_from_dict({"data": data_section}, base_dir=tmp_path)
    cohort = outcome(error and rf"m.csv.*{error}", lambda: build_cohort(config))
    if error is None:
        assert [s.sample_id for s in cohort.samples] == ["P1"]


def test_a_labels_csv_with_a_byte_order_mark(tmp_path):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "1.bmp").write_bytes(encoded(".bmp"))
    (tmp_path / "labels.csv").write_bytes(b"\xef\xbb\xbfPatient_ID,new_names,labels\r\nUID_57_29_1_all.bmp,1.bmp,1\r\n")
    images = {"root": str(tmp_path / "test"), "labels_csv": str(tmp_path / "labels.csv")}
    assert [s.label for s in build_cohort(config_from_dict({"data": {"images": images}})).samples] == ["all"]


CONFIGS: dict[str, tuple[bytes, str]] = {
    "empty file": (b"", "the file is empty"),
    "only a comment": (b"# my config\n", "the file is empty"),
    "a list": (b"- data\n- cv\n", "the top level is not a mapping"),
    "a plain string": (b"data\n", "the top level is not a mapping"),
    "tabs for indentation": (b"data:\n\timages: x\n", "not valid YAML"),
    "Latin-1 text": ("name: leucémie\ndata: {images: {root: x}}\n".encode("latin-1"), "is not UTF-8"),
    "data missing": (b"name: x\n", "field 'data'"),
    "a section that is a list": (b"data: {images: {root: x}}\ncv: [1, 2]\n", "field 'cv'"),
    "a number as text": (b"data: {images: {root: x}}\ncv: {n_folds: five}\n", "field 'cv.n_folds'"),
    "output inside the images": (b"data: {images: {root: img}}\noutput_dir: img/runs\n", "inside the image folder"),
    "cache inside the images": (b"data: {images: {root: img}}\nfeatures: {cache_dir: img}\n", "inside the image"),
    "a key given twice": (b"data: {images: {root: i}}\ndata: {expression: {files: [e.csv]}}\n", "'data' appears twice"),
    "a broken regular expression": (
        b"data: {images: {root: i, format: folder, subject_pattern: '(?P<s'}}\n",
        "field 'data.images.subject_pattern'.*not a regular expression",
    ),
    "a broken ignore_columns pattern": (
        b"data: {expression: {files: [e.csv], ignore_columns: ['[x']}}\n",
        "field 'data.expression.ignore_columns.0'.*not a regular expression",
    ),
    "a class listed twice": (b"data: {images: {root: i}, classes: [ALL, ALL]}\n", "names a class twice"),
    "no image extensions": (b"data: {images: {root: i, extensions: []}}\n", "field 'data.images.extensions'"),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_config_files(tmp_path, case):
    data, error = CONFIGS[case]
    (tmp_path / "config.yaml").write_bytes(data)
    with pytest.raises(LeukInputError, match=rf"config.yaml.*{error}"):
        load_config(tmp_path / "config.yaml")


def test_a_config_path_that_is_a_folder(tmp_path):
    with pytest.raises(LeukInputError, match="config file not found"):
        load_config(tmp_path)


def test_a_config_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "config.yaml").write_bytes(b"\xef\xbb\xbfdata: {images: {root: x}}\n")
    assert load_config(tmp_path / "config.yaml").data.images.root == tmp_path / "x"


def run_cli(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from leukmodel.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


CLI: dict[str, Callable[[Path], tuple[list[str], str]]] = {
    "validate a missing config": lambda p: (["validate", str(p / "absent.yaml")], "config file not found"),
    "synth into a file": lambda p: (["synth", str(p / "f")], "f"),
    "synth with a bad class list": lambda p: (["synth", str(p / "c"), "--classes", "ALL"], "--classes"),
    "featurize with no images": lambda p: (["featurize", str(p / "config.yaml")], "no images to featurize"),
}


@pytest.mark.parametrize("case", list(CLI))
def test_cli_answers_with_a_message_not_a_traceback(tmp_path, case):
    (tmp_path / "f").write_text("a file")
    (tmp_path / "e.csv").write_text("samples,type,p1\nS1,ALL,5\n")
    (tmp_path / "config.yaml").write_text("data: {expression: {files: [e.csv]}}\n")
    args, text = CLI[case](tmp_path)
    code, output = run_cli(*args)
    assert code != 0 and text in output and "Traceback" not in output


PREDICT_PROFILES: dict[str, tuple[bytes, str | None]] = {
    "samples as rows": (b"sample,g1,g2\nS1,5,6\n", None),
    "genes as rows with a byte-order mark": (b"\xef\xbb\xbfgene,S1\ng1,5\ng2,6\n", None),
    "a gene twice in the header": (b"sample,g1,g1\nS1,5,6\n", "column 'g1' appears twice"),
    "a gene twice in the rows": (b"gene,S1\ng1,5\ng1,6\ng2,7\n", "g1 appear in more than one row"),
    "semicolons": (b"sample;g1;g2\nS1;5;6\n", "looks separated by ';'"),
    "zero-byte file": (b"", "the file is empty"),
}


@pytest.mark.parametrize("case", list(PREDICT_PROFILES))
def test_a_profile_given_to_predict(tmp_path, case):
    from leukmodel.serving import read_expression_csv

    data, error = PREDICT_PROFILES[case]
    (tmp_path / "p.csv").write_bytes(data)
    profile = outcome(error and rf"p.csv.*{error}", lambda: read_expression_csv(tmp_path / "p.csv", ["g1", "g2"]))
    assert profile == (("S1", {"g1": 5, "g2": 6}) if error is None else None)


def test_two_patients_sharing_one_image_subject_in_a_manifest(tmp_path):
    (tmp_path / "images" / "all").mkdir(parents=True)
    (tmp_path / "images" / "all" / "UID_1_1_1_all.bmp").write_bytes(encoded(".bmp"))
    (tmp_path / "e.csv").write_text("samples,type,p1\nS1,all,5\nS2,all,6\n")
    (tmp_path / "m.csv").write_text("patient_id,image_subject,expression_sample\nP1,1,S1\nP2,1,S2\n")
    data_section = {
        "images": {"root": "images"},
        "expression": {"files": ["e.csv"]},
        "pairing": {"mode": "paired", "manifest": "m.csv"},
    }
    with pytest.raises(LeukInputError, match=r"m.csv, row 2, field 'image_subject': '1' appears in rows \[1, 2\]"):
        build_cohort(config_from_dict({"data": data_section}, base_dir=tmp_path))


@pytest.mark.parametrize("damage", ["truncated entry", "entry that is not HDF5", "damaged no-foreground record"])
def test_a_damaged_cache_entry_is_named_with_what_to_do(tmp_path, damage):
    from leukmodel.features.cache import FeatureCache

    cache = FeatureCache(tmp_path, {"settings": 1})
    digest = "ab" * 32
    cache.write(digest, "pooled", np.ones((2, 4), np.float32), np.zeros((2, 2), np.int64), {})
    entry = cache.path(digest, "pooled")
    if damage == "truncated entry":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "entry that is not HDF5":
        entry.write_text("features")
    else:
        cache.no_foreground_path(digest).parent.mkdir(parents=True)
        cache.no_foreground_path(digest).write_text("{not json")
    with pytest.raises(LeukInputError, match=r"damaged cache entry.*delete this file .* featurize again"):
        cache.no_foreground(digest)
        cache.read(digest, "pooled")


@pytest.mark.parametrize("content", ["truncated", "text", "a tensor", "another format"])
def test_a_model_bundle_that_is_damaged_or_foreign(tmp_path, content):
    import torch

    from leukmodel.training.bundle import ModelBundle

    path = tmp_path / "fusion-fold0.pt"
    if content == "truncated":
        torch.save({"format": 1, "state_dict": {"w": torch.ones(100)}}, path)
        path.write_bytes(path.read_bytes()[:200])
    elif content == "text":
        path.write_text("weights")
    elif content == "a tensor":
        torch.save(torch.ones(3), path)
    else:
        torch.save({"format": "clam-1"}, path)
    with pytest.raises(LeukInputError, match=r"fusion-fold0.pt: .*(cannot be read|not a leukmodel model bundle)"):
        ModelBundle.load(path)
