"""Atomic file writes: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

TMP_SUFFIX = ".tmp"
_OURS = re.compile(r"\..+\.\d+\.[0-9a-f]{8}\.tmp")


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, synced, then renamed.

    Concurrent writers of the same path do not corrupt it: each renames its own complete file, and the last
    rename wins. A writer killed midway leaves only a ``*.tmp`` file, which :func:`remove_orphans` clears.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def remove_orphans(folder: Path, older_than_s: float = 3600.0) -> int:
    """Delete temporary files left under ``folder`` by killed writers; returns how many were removed.

    Only files older than ``older_than_s`` are removed: a live writer's file exists for the moments it takes
    to write bytes already in memory, so an old one belongs to a writer that died.
    """
    removed = 0
    cutoff = time.time() - older_than_s
    for tmp in folder.rglob(f".*{TMP_SUFFIX}"):
        if not _OURS.fullmatch(tmp.name):  # only the names write_atomic gives: never a file of the user's
            continue
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:  # another process removed it first
            continue
    return removed
