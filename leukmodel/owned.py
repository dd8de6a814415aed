"""Files leukmodel wrote into a folder, recorded with their hashes, so that it rewrites or removes only its own.

Every folder leukmodel writes results into (a synthetic cohort, a cross-validation's output, explanations, a
report) holds a record, :data:`RECORD_NAME`, of the files it wrote there: relative path -> SHA-256 of the bytes
written. Before it writes, it checks each path it is about to write: a path that is absent, or holds exactly the
bytes leukmodel wrote there, is leukmodel's to replace; anything else (a file the user put there, or a file
leukmodel wrote and the user changed since) is in the way, and the write is refused, naming every such file,
before anything is written.

A path is recorded as *claimed* (no hash yet) before its file is written, so a run that is killed midway leaves
paths the next run knows as its own; a finished write records the hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from os import PathLike
from pathlib import Path

from leukmodel.errors import LeukInputError

RECORD_NAME = "leukmodel-files.json"
"""The record of the files leukmodel wrote into a folder (and the folders below it)."""

PARTIAL_SUFFIX = ".partial"
_PARTIAL = re.compile(r"\..+\.\d+\.partial")
_SHOWN = 10


class NotOursError(LeukInputError):
    """Files in the way of a write: not written by leukmodel, or changed since; nothing was written."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OwnedFiles:
    """The files leukmodel wrote under ``root``, with their hashes (see the module docstring).

    Args:
        root: the folder; created when the first file is written.
        purpose: what the folder is, for messages ("the synthetic cohort", "the cross-validation output").
    """

    def __init__(self, root: str | PathLike[str], purpose: str = "leukmodel's output") -> None:
        self.root = Path(root)
        self.purpose = purpose
        if self.root.exists() and not self.root.is_dir():
            raise NotOursError("is a file", file=self.root, expected=f"a folder for {purpose}")
        for parent in self.root.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise NotOursError(
                        f"is a file, so '{self.root}' cannot be made", file=parent, expected=f"a folder for {purpose}"
                    )
                break
        self.record_path = self.root / RECORD_NAME
        self.files: dict[str, str | None] = self._read()

    def _read(self) -> dict[str, str | None]:
        if not self.record_path.is_file():
            return {}
        try:
            files = json.loads(self.record_path.read_text(encoding="utf-8"))["files"]
            return {str(k): (None if v is None else str(v)) for k, v in dict(files).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise NotOursError(
                "is not a readable record of the files leukmodel wrote here, so leukmodel cannot tell its own files "
                "from yours and writes nothing",
                file=self.record_path,
                expected='the JSON leukmodel writes ({"files": {path: sha256}}); move the folder\'s files '
                "you want to keep and delete this record, or choose a new folder",
            ) from None

    def relative(self, path: str | PathLike[str]) -> str:
        """``path`` relative to the root (``path`` is relative to the root already, or below it)."""
        path = Path(path)
        for base in (self.root, self.root.absolute()):
            if path.is_relative_to(base):
                return path.relative_to(base).as_posix()
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"{path} is not inside {self.root}")
        return path.as_posix()

    def is_ours(self, relative: str) -> bool:
        """Whether the path may be replaced: absent, or recorded and holding the bytes recorded (or claimed)."""
        path = self.root / relative
        if not os.path.lexists(path):
            return True
        if relative not in self.files or path.is_symlink() or not path.is_file():
            return False
        recorded = self.files[relative]
        return recorded is None or sha256_file(path) == recorded

    def foreign(self, folder: str | PathLike[str] = ".") -> list[str]:
        """Files under ``folder`` (relative to the root) that leukmodel did not write or that were changed since.

        A folder below with a record of its own (an explanation inside explanations) is judged by that record.
        """
        base = self.root / folder
        if not os.path.lexists(base):
            return []
        if base.is_symlink() or not base.is_dir():
            return [Path(folder).as_posix()]
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            here = Path(dirpath)
            if here != self.root and (here / RECORD_NAME).is_file():
                found += [(here / f).relative_to(self.root).as_posix() for f in OwnedFiles(here).foreign()]
                dirnames.clear()
                continue
            for name in filenames + [d for d in dirnames if (here / d).is_symlink()]:
                if _PARTIAL.fullmatch(name) or (here == self.root and name == RECORD_NAME):
                    continue
                relative = (here / name).relative_to(self.root).as_posix()
                if not self.is_ours(relative):
                    found.append(relative)
        return sorted(found)

    def check(self, paths: Iterable[str | PathLike[str]], *, folders: Iterable[str | PathLike[str]] = ()) -> None:
        """Refuse (naming them) the files among ``paths`` and under ``folders`` that are not leukmodel's to replace.

        ``folders`` are folders leukmodel must hold alone (a reader takes every file in them, so a file the user
        put there would change the result).

        Raises:
            NotOursError: before anything is written.
        """
        blocking = {self.relative(p) for p in paths if not self.is_ours(self.relative(p))}
        for folder in folders:
            blocking.update(self.foreign(folder))
        if blocking:
            self._refuse(sorted(blocking))

    def _refuse(self, blocking: list[str]) -> None:
        shown = ", ".join(blocking[:_SHOWN]) + (f" and {len(blocking) - _SHOWN} more" if len(blocking) > _SHOWN else "")
        raise NotOursError(
            f"holds {len(blocking)} file(s) that leukmodel did not write or that were changed since it wrote them, "
            f"in the way of {self.purpose}: {shown}; nothing was written or deleted",
            file=self.root,
            expected="move those files elsewhere (or delete them yourself), or choose another folder",
        )

    def claim(self, paths: Iterable[str | PathLike[str]]) -> None:
        """Check ``paths`` and record them as leukmodel's before writing them (so a killed run leaves them known)."""
        relatives = [self.relative(p) for p in paths]
        self.check(relatives)
        for relative in relatives:
            self.files[relative] = None
        self.save()

    def write_bytes(self, path: str | PathLike[str], data: bytes, *, save: bool = True) -> Path:
        """Write ``data`` to ``path`` (under the root) atomically, after checking it is leukmodel's to replace."""
        relative = self.relative(path)
        if relative not in self.files or self.files[relative] is not None:
            self.check([relative])
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}{PARTIAL_SUFFIX}")
        try:
            partial.write_bytes(data)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        self.files[relative] = hashlib.sha256(data).hexdigest()
        if save:
            self.save()
        return target

    def write_text(self, path: str | PathLike[str], text: str, *, save: bool = True) -> Path:
        return self.write_bytes(path, text.encode("utf-8"), save=save)

    def adopt(self, path: str | PathLike[str], *, save: bool = True) -> Path:
        """Record a file leukmodel has just written by other means (a library's own ``save``) under ``path``."""
        relative = self.relative(path)
        self.files[relative] = sha256_file(self.root / relative)
        if save:
            self.save()
        return self.root / relative

    def adopt_all(self) -> None:
        """Record every file now under the root (not under a folder with a record of its own) as leukmodel's.

        For a folder that :func:`owned_folder` checked held only leukmodel's files before leukmodel wrote into it.
        """
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            if here != self.root and (here / RECORD_NAME).is_file():
                dirnames.clear()
                continue
            for name in filenames:
                if not _PARTIAL.fullmatch(name) and not (here == self.root and name == RECORD_NAME):
                    self.adopt(here / name, save=False)
        self.save()

    def remove(self, paths: Iterable[str | PathLike[str]]) -> None:
        """Delete leukmodel's own files among ``paths`` (refusing all if one is not), then their emptied folders."""
        relatives = [self.relative(p) for p in paths]
        self.check(relatives)
        for relative in relatives:
            (self.root / relative).unlink(missing_ok=True)
            self.files.pop(relative, None)
            folder = (self.root / relative).parent
            while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
        self.save()

    def save(self) -> None:
        """Write the record (atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"written_by": "leukmodel", "files": dict(sorted(self.files.items()))}, indent=1) + "\n"
        partial = self.record_path.with_name(f".{RECORD_NAME}.{os.getpid()}{PARTIAL_SUFFIX}")
        partial.write_text(text, encoding="utf-8")
        partial.replace(self.record_path)


def owned_folder(folder: str | PathLike[str], purpose: str) -> OwnedFiles:
    """The record of ``folder``, after checking that it holds nothing but leukmodel's own unchanged files.

    For output folders leukmodel fills whole (an explanation): write into it, then :meth:`OwnedFiles.adopt_all`.

    Raises:
        NotOursError: ``folder`` is a file, or holds a file leukmodel did not write or that was changed since.
    """
    owned = OwnedFiles(folder, purpose)
    owned.check([], folders=["."])
    return owned
