"""leukmodel rewrites or removes only files it wrote and that nobody changed since (leukmodel.owned)."""

from __future__ import annotations

import os

import pytest

from leukmodel.features.atomic import remove_orphans
from leukmodel.owned import RECORD_NAME, NotOursError, OwnedFiles, owned_folder
from leukmodel.report import build_report
from leukmodel.training import run_cross_validation


def test_writes_records_and_rewrites_its_own_files(tmp_path):
    owned = OwnedFiles(tmp_path / "out")
    owned.write_text("a/b.txt", "one")
    owned.write_text("a/b.txt", "two")  # unchanged since written: leukmodel's to replace
    assert (tmp_path / "out" / "a" / "b.txt").read_text() == "two"
    assert OwnedFiles(tmp_path / "out").files == owned.files  # the record is on disk


@pytest.mark.parametrize("change", ["user file", "edited", "symlink"])
def test_refuses_what_it_did_not_write_or_what_was_changed(tmp_path, change):
    owned = OwnedFiles(tmp_path)
    owned.write_text("ours.txt", "ours")
    target = tmp_path / "x.txt"
    if change == "user file":
        target.write_text("the user's")
    elif change == "edited":
        owned.write_text("x.txt", "ours")
        target.write_text("changed by the user")
    else:
        (tmp_path / "elsewhere.txt").write_text("the user's")
        target.symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(NotOursError, match=r"x\.txt.*nothing was written"):
        OwnedFiles(tmp_path).write_text("x.txt", "new")
    with pytest.raises(NotOursError, match=r"x\.txt"):
        OwnedFiles(tmp_path).remove(["ours.txt", "x.txt"])
    assert (tmp_path / "ours.txt").exists()  # refused as a whole, before deleting anything
    assert target.read_text() != "new"


def test_remove_deletes_own_files_and_only_the_folders_it_emptied(tmp_path):
    owned = OwnedFiles(tmp_path)
    owned.write_text("d/e/f.txt", "x")
    owned.write_text("d/g.txt", "y")
    (tmp_path / "d" / "keep").mkdir()
    owned.remove(["d/e/f.txt", "d/g.txt"])
    assert not (tmp_path / "d" / "e").exists()
    assert (tmp_path / "d" / "keep").is_dir()


def test_foreign_files_in_a_folder_it_must_hold_alone(tmp_path):
    owned = OwnedFiles(tmp_path)
    owned.write_text("images/a.bmp", "x")
    (tmp_path / "images" / "b.bmp").write_text("user")
    assert owned.foreign("images") == ["images/b.bmp"]
    with pytest.raises(NotOursError, match="images/b.bmp"):
        owned.check([], folders=["images"])


@pytest.mark.parametrize("record", ["not json", "[1, 2]", '{"files": 3}'])
def test_an_unreadable_record_is_a_named_error(tmp_path, record):
    (tmp_path / RECORD_NAME).write_text(record)
    with pytest.raises(NotOursError, match=f"{RECORD_NAME}: is not a readable record"):
        OwnedFiles(tmp_path)


def test_a_file_where_the_folder_should_be(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotOursError, match="is a file"):
        OwnedFiles(tmp_path / "f")
    with pytest.raises(NotOursError, match="is a file"):
        OwnedFiles(tmp_path / "f" / "below")


def test_an_output_folder_with_explanations_inside_is_judged_by_their_own_records(tmp_path):
    inner = owned_folder(tmp_path / "explanations" / "sample-1", "an explanation")
    inner.root.mkdir(parents=True)
    (inner.root / "figure.png").write_bytes(b"png")
    inner.adopt_all()
    outer = owned_folder(tmp_path / "explanations", "explanations")
    (outer.root / "index.json").write_text("{}")
    outer.adopt_all()
    owned_folder(tmp_path / "explanations", "explanations")  # a re-run finds only leukmodel's files
    (inner.root / "figure.png").write_bytes(b"edited")
    (outer.root / "notes.md").write_text("the user's")
    with pytest.raises(NotOursError, match=r"2 file\(s\).*notes.md, sample-1/figure.png"):
        owned_folder(tmp_path / "explanations", "explanations")


def test_cross_validation_checks_its_output_folder_before_any_training(tmp_path, tiny):
    (tmp_path / "summary.md").write_text("the user's notes")
    with pytest.raises(NotOursError, match="summary.md"):
        run_cross_validation(None, {}, tiny(), out_dir=tmp_path)  # refused before the cohort is even looked at
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotOursError, match="is a file"):
        run_cross_validation(None, {}, tiny(), out_dir=tmp_path / "file")


def test_a_report_does_not_overwrite_a_file_of_the_users(tmp_path):
    page = tmp_path / "report.html"
    page.write_text("<p>the user's page</p>")
    with pytest.raises(NotOursError, match="report.html"):
        build_report(tmp_path / "no-cv", None, page)
    assert page.read_text() == "<p>the user's page</p>"


def test_cache_cleanup_removes_only_temporary_files_of_its_own_naming(tmp_path):
    ours = tmp_path / "k" / ".abc.h5.123.0123abcd.tmp"
    users = tmp_path / "k" / ".my-notes.tmp"
    for path in (ours, users):
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")
        os.utime(path, (0, 0))
    assert remove_orphans(tmp_path) == 1
    assert users.exists() and not ours.exists()
