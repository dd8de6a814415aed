"""A saved cross-validation read back from its folder (the tables of :meth:`CVResult.save`, without the models)."""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

import pandas as pd

from leukmodel.explain.artifacts import ArtifactError, read_table
from leukmodel.training.cv import LINEAR_MCNEMAR, RUN_JSON, TABLES, CVResult


def load_cv_result(cv_dir: str | PathLike[str]) -> CVResult:
    """The :class:`CVResult` saved in ``cv_dir`` (``bundles`` left empty: the models stay on disk).

    Raises:
        ArtifactError: a table or ``run.json`` is missing.
    """
    cv_dir = Path(cv_dir)
    run_path = cv_dir / RUN_JSON
    if not run_path.is_file():
        raise ArtifactError(
            "file not found", file=run_path, expected="a cross-validation output folder (CVResult.save)"
        )
    run = json.loads(run_path.read_text())
    tables = {name: read_table(cv_dir, f"{name}.csv") for name in TABLES}
    for name in ("metrics", "confusion"):
        tables[name] = tables[name].astype({"fold": "Int64"})
    linear_path = cv_dir / f"{LINEAR_MCNEMAR}.csv"
    linear = read_table(cv_dir, linear_path.name) if linear_path.is_file() else pd.DataFrame()
    return CVResult(classes=tuple(run["classes"]), run=run, linear_mcnemar=linear, **tables)
