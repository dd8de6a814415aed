"""The one accessor of a run's artifacts: what leukmodel logs to an MLflow run, or reads back from it, goes through
:class:`RunArtifacts`, at the paths :mod:`leukmodel.tracking.layout` names."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient

from leukmodel.config import Config
from leukmodel.explain.artifacts import ArtifactError
from leukmodel.tracking import layout


class RunArtifacts:
    """The artifacts of the run ``run_id`` (a cross-validation's parent run, or an evaluation's or batch's run)."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client = client
        self.run_id = run_id

    # writing

    def log_config(self, config: Config) -> None:
        """The run's config as ``config.yaml``."""
        with tempfile.TemporaryDirectory(prefix="leukmodel-config-") as staging:
            self.log_file(config.to_yaml(Path(staging) / layout.CONFIG), layout.CONFIG)

    def log_cohort(self, pairing: pd.DataFrame, summary: str) -> None:
        """The pairing table and the cohort summary under ``cohort/``."""
        with tempfile.TemporaryDirectory(prefix="leukmodel-cohort-") as staging:
            folder = Path(staging)
            pairing.to_csv(folder / Path(layout.PAIRING).name, index=False)
            (folder / Path(layout.COHORT_SUMMARY).name).write_text(summary)
            self.client.log_artifacts(self.run_id, staging, layout.COHORT_DIR)

    def log_cv(self, cv_dir: str | PathLike[str], predictions: pd.DataFrame, comparisons: pd.DataFrame) -> None:
        """The cross-validation's folder as ``cv/``, and its predictions and McNemar tests as MLflow tables."""
        self.client.log_artifacts(self.run_id, str(cv_dir), layout.CV_DIR)
        self.client.log_table(self.run_id, predictions, layout.table("oof_predictions"))
        if not comparisons.empty:
            self.client.log_table(self.run_id, comparisons, layout.table("mcnemar"))

    def log_figures(self, figures: dict[str, Figure]) -> None:
        for name, figure in figures.items():
            self.client.log_figure(self.run_id, figure, layout.figure(name))

    def log_final_bundle(self, path: str | PathLike[str], model: str) -> None:
        self.log_file(path, layout.final_bundle(model))

    def log_explanations(self, folder: str | PathLike[str], sample_folder: str | None = None) -> None:
        """``explain_cv``'s folder as ``explanations/``, or one sample's as ``explanations/<sample folder>``."""
        where = layout.EXPLANATIONS_DIR if sample_folder is None else layout.explanation(sample_folder)
        self.client.log_artifacts(self.run_id, str(folder), where)

    def log_report(self, path: str | PathLike[str]) -> None:
        self.log_file(path, layout.REPORT)

    def log_external(self, folder: str | PathLike[str]) -> None:
        self.client.log_artifacts(self.run_id, str(folder), layout.EXTERNAL_DIR)

    def log_batch_predictions(self, csv: str | PathLike[str]) -> None:
        """A batch prediction's CSV, at the run's root under its own name."""
        self.client.log_artifact(self.run_id, str(csv))

    def log_file(self, path: str | PathLike[str], artifact: str) -> None:
        """The local file ``path`` as the artifact ``artifact`` (copied under that name when its own differs)."""
        path, name = Path(path), Path(artifact).name
        if path.name == name:
            self.client.log_artifact(self.run_id, str(path), layout.folder_of(artifact))
            return
        with tempfile.TemporaryDirectory(prefix="leukmodel-artifact-") as staging:
            copy = shutil.copyfile(path, Path(staging) / name)
            self.client.log_artifact(self.run_id, str(copy), layout.folder_of(artifact))

    # reading

    def names(self, folder: str | None = None) -> set[str]:
        """The names of the artifacts directly in ``folder`` (the run's root when ``None``)."""
        return {Path(f.path).name for f in self.client.list_artifacts(self.run_id, folder)}

    def download(self, artifact: str, into: str | PathLike[str]) -> Path:
        """One artifact (file or folder), at the same relative path under ``into``.

        Raises:
            ArtifactError: the run has no such artifact.
        """
        if Path(artifact).name not in self.names(layout.folder_of(artifact)):
            raise ArtifactError(
                f"run {self.run_id} has no artifact '{artifact}'",
                expected="a cross-validation's parent run with config.yaml and cv/ logged (leukmodel run)",
            )
        destination = Path(into) / (layout.folder_of(artifact) or "")
        destination.mkdir(parents=True, exist_ok=True)
        return Path(self.client.download_artifacts(self.run_id, artifact, str(destination)))

    def download_config(self, into: str | PathLike[str]) -> Path:
        return self.download(layout.CONFIG, into)

    def download_cv(self, into: str | PathLike[str], files: Iterable[str] | None = None) -> Path:
        """The run's ``cv/`` folder (only ``files`` of it when given) under ``into``; returns the local folder."""
        if files is None:
            return self.download(layout.CV_DIR, into)
        for name in files:
            self.download(layout.cv_file(name), into)
        return Path(into) / layout.CV_DIR

    def download_explanations(self, into: str | PathLike[str], index: str) -> Path | None:
        """The run's ``explanations/`` when it holds ``index`` (``explain_cv`` logged them), else ``None``."""
        return self.download(layout.EXPLANATIONS_DIR, into) if index in self.names(layout.EXPLANATIONS_DIR) else None
