"""Batch prediction: every sample of a cohort, or of a folder of images, through a registered model, written as one
CSV row per sample and recorded as an MLflow run."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from tqdm.auto import tqdm

from leukmodel.config.data import IMAGE_EXTENSIONS
from leukmodel.data.cohort import Cohort
from leukmodel.errors import ImageError, LeukInputError
from leukmodel.serving.inputs import SampleInput, read_images
from leukmodel.serving.predictor import Predictor
from leukmodel.tracking.artifacts import RunArtifacts
from leukmodel.tracking.layout import KIND_PREDICTION, tag
from leukmodel.tracking.setup import context_tags

logger = logging.getLogger(__name__)

PREDICTIONS = "predictions.csv"


@dataclass(frozen=True)
class BatchItem:
    """One sample to predict: image files and/or an expression profile, and its label when known."""

    sample_id: str
    images: tuple[Path, ...] = ()
    expression: dict[str, float] | None = None
    label: str | None = None


def cohort_items(cohort: Cohort) -> list[BatchItem]:
    """The cohort's samples with their images, expression profiles and labels."""
    items = []
    for s in cohort.samples:
        profile = None
        if s.expression_id is not None and cohort.expression is not None:
            profile = cohort.expression.loc[s.expression_id].astype(float).to_dict()
        items.append(BatchItem(s.sample_id, s.images, profile, s.label))
    return items


def folder_items(folder: str | PathLike[str]) -> list[BatchItem]:
    """Samples of an image folder: each sub-folder is one sample (its images, searched recursively, are the bag)
    and each image file directly in the folder is a sample of its own.

    Raises:
        ImageError: the folder does not exist or holds no images.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ImageError("not a folder", file=root, expected="a folder of images or of one sub-folder per sample")
    items = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            images = tuple(sorted(p for p in entry.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS))
            if images:
                items.append(BatchItem(entry.name, images))
        elif entry.suffix.lower() in IMAGE_EXTENSIONS:
            items.append(BatchItem(entry.stem, (entry,)))
    if not items:
        raise ImageError("holds no images", file=root, expected="files ending in " + ", ".join(IMAGE_EXTENSIONS))
    return items


def predict_batch(
    predictor: Predictor, items: Sequence[BatchItem], out_csv: str | PathLike[str], progress: bool = True
) -> pd.DataFrame:
    """Predict ``items`` one by one (images are read when their sample's turn comes) and write ``out_csv``.

    One row per sample: id, label (when known), predicted class, the model that answered, the missing modality,
    a probability column per class, the number of tiles, skipped images and imputed genes; a sample whose input
    is bad gets its error in ``error`` (named by file or gene) and the others are still predicted.
    """
    rows = list(tqdm(_rows(predictor, items), total=len(items), desc="predict", unit="sample", disable=not progress))
    frame = pd.DataFrame(rows)
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    frame.to_csv(partial, index=False)
    partial.replace(out)
    return frame


def _rows(predictor: Predictor, items: Sequence[BatchItem]) -> Iterator[dict[str, object]]:
    classes = predictor.spec.classes
    for item in items:
        row: dict[str, object] = {"sample_id": item.sample_id, "label": item.label}
        try:
            sample = SampleInput(item.sample_id, read_images([str(p) for p in item.images]), item.expression)
            record = predictor.predict(sample).to_record(0)
        except LeukInputError as exc:
            logger.warning("sample %s not predicted: %s", item.sample_id, exc)
            yield {**row, "error": str(exc)}
            continue
        yield {
            **row,
            "predicted_class": record["predicted_class"],
            "model": record["model"],
            "missing_modality": record["missing_modality"],
            **{f"p_{c}": record["probabilities"][c] for c in classes},
            "n_tiles": record["n_tiles"],
            "skipped_images": ";".join(record["skipped_images"]),
            "imputed_genes": len(record["imputed_genes"]),
            "error": None,
        }


def record_batch(
    tracking_uri: str,
    experiment_id: str,
    model_uri: str,
    predictor: Predictor,
    frame: pd.DataFrame,
    csv: str | PathLike[str],
    source: str,
) -> str:
    """An MLflow run of the batch: the model, the source, counts (and accuracy where labels are known) and the CSV.

    The run carries the model's provenance tags (pairing, synthetic, pretrained). Returns the run id.
    """
    client = MlflowClient(tracking_uri)
    tags = {tag(k): str(v) for k, v in predictor.spec.tags.items()}
    tags |= {tag("kind"): KIND_PREDICTION, tag("model_uri"): model_uri, tag("source"): source}
    run = client.create_run(experiment_id, run_name=f"predict-{Path(source).name}", tags=context_tags(tags))
    run_id = run.info.run_id
    predicted = frame[frame["error"].isna()] if "error" in frame else frame
    metrics = {"n_samples": float(len(frame)), "n_predicted": float(len(predicted))}
    labelled = predicted[predicted["label"].notna()] if "label" in predicted else predicted.iloc[:0]
    if len(labelled):
        metrics["accuracy"] = float((labelled["label"] == labelled["predicted_class"]).mean())
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        params=[Param("model_uri", model_uri), Param("source", source)],
    )
    RunArtifacts(client, run_id).log_batch_predictions(csv)
    client.set_terminated(run_id, "FINISHED")
    return run_id
