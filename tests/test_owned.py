"""leukmodel rewrites or removes only files it wrote and that nobody changed since (leukmodel.owned)."""

from __future__ import annotations

import pytest

from leukmodel.owned import RECORD_NAME, NotOursError, OwnedFiles


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
