"""Predict a cohort: samples through a registered model into a CSV, the batch recorded as an MLflow run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import pandas as pd

from leukmodel.config import Config
from leukmodel.serving import load_predictor
from leukmodel.serving.batch import BatchItem, predict_batch, record_batch
from leukmodel.tracking.setup import ensure_experiment, tracking_uri


@dataclass(frozen=True)
class BatchRun:
    """A batch prediction: one row per sample (``error`` names bad input), its CSV and its MLflow run."""

    predictions: pd.DataFrame
    csv: Path
    run_id: str
    experiment_id: str
    tracking_uri: str

    @property
    def failed(self) -> int:
        """Samples not predicted because of bad input."""
        return int(self.predictions["error"].notna().sum())


def predict_cohort(
    config: Config,
    model_uri: str,
    items: Sequence[BatchItem],
    source: str,
    out_csv: str | PathLike[str],
    progress: bool = True,
) -> BatchRun:
    """Predict ``items`` (a cohort's samples, or a folder's: ``source`` says which) with ``model_uri`` into
    ``out_csv`` and record the batch as a run of the config's experiment, at the config's tracking URI."""
    uri = tracking_uri(config)
    predictor = load_predictor(model_uri, tracking_uri=uri, device=config.features.device)
    frame = predict_batch(predictor, items, out_csv, progress=progress)
    experiment = ensure_experiment(config)
    run_id = record_batch(uri, experiment, model_uri, predictor, frame, out_csv, source)
    return BatchRun(frame, Path(out_csv), run_id, experiment, uri)
