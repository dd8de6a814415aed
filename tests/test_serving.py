"""The registered model in process: files -> prediction like training saw them, missing modalities, named errors."""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException
from test_serving_model import ServedModel, build_served_model

from leukmodel.errors import ExpressionError, ImageError, LeukInputError
from leukmodel.features import load_bags
from leukmodel.models import MODELS
from leukmodel.models.registry import served_models
from leukmodel.serving import (
    ModelLoadError,
    Predictor,
    SampleInput,
    load_predictor,
    read_images,
    samples_from_frame,
)
from leukmodel.serving.explain import explain_prediction
from leukmodel.serving.expression import MAX_IMPUTED_FRACTION
from leukmodel.tracking.setup import using_tracking_uri
from leukmodel.training import train_final


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> ServedModel:
    return build_served_model(tmp_path_factory.getbasetemp() / "served-model")


@pytest.fixture(scope="module")
def predictor(served) -> Predictor:
    return load_predictor(served.uri, tracking_uri=served.tracking_uri, device="cpu")


def patient(served: ServedModel, k: int = 0) -> tuple[str, list[str], dict[str, float]]:
    sample = served.cohort.samples[k]
    profile = served.cohort.expression.loc[sample.expression_id]
    return sample.sample_id, [str(p) for p in sample.images], {str(g): float(v) for g, v in profile.items()}


def test_fusion_prediction_from_files_matches_the_model_on_cached_features(served, predictor):
    sid, images, profile = patient(served)
    prediction = predictor.predict(SampleInput(sid, read_images(images), profile))
    assert prediction.model == "fusion" and prediction.missing_modality is None
    assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert prediction.attention.sum() == pytest.approx(1.0, abs=1e-5)

    bag = load_bags(served.cohort.subset([sid]), served.config)[sid]
    np.testing.assert_array_equal(prediction.bag.coords, bag.coords)
    np.testing.assert_array_equal(prediction.bag.image_index, bag.image_index)
    np.testing.assert_allclose(prediction.bag.features, bag.features, atol=1e-3)
    model = served.bundle("fusion").build("cpu")
    with torch.inference_mode():
        output = model(torch.from_numpy(bag.features), torch.tensor(list(profile.values()), dtype=torch.float32))
    np.testing.assert_allclose(prediction.probabilities, output.logits.softmax(-1).numpy(), atol=1e-4)
    np.testing.assert_allclose(prediction.attention, output.attention.numpy(), atol=1e-4)

    record = prediction.to_record(top_tiles=3)
    attention = [t["attention"] for t in record["top_tiles"]]
    assert attention == sorted(attention, reverse=True) and len(attention) == 3
    assert record["n_tiles"] == len(record["tiles"]) == len(bag)
    assert record["top_tiles"][0]["image"] in images
    assert record["tags"] == {"pairing": "paired", "synthetic": "true", "pretrained": "false"}


def test_missing_modality_is_answered_by_the_single_modality_model_and_flagged(served, predictor):
    sid, images, profile = patient(served, 1)
    only_images = predictor.predict(SampleInput(sid, read_images(images)))
    assert (only_images.model, only_images.missing_modality) == ("image", "expression")
    assert only_images.attention.sum() == pytest.approx(1.0, abs=1e-5)
    only_expression = predictor.predict(SampleInput(sid, expression=profile))
    assert (only_expression.model, only_expression.missing_modality) == ("genomic", "images")
    assert only_expression.to_record(4)["top_tiles"] == []
    assert only_expression.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_missing_genes_are_named_or_imputed_from_training_means_and_reported(served, predictor):
    sid, images, profile = patient(served)
    dropped = list(profile)[:3]
    partial = {g: v for g, v in profile.items() if g not in dropped}
    with pytest.raises(ExpressionError, match="3 of the model's 50 genes are missing") as caught:
        predictor.predict(SampleInput(sid, expression=partial))
    assert caught.value.field == dropped[0] and caught.value.row == sid
    imputed = predictor.predict(SampleInput(sid, expression=partial), impute_missing=True)
    assert imputed.imputed_genes == dropped
    assert imputed.to_record(4)["imputed_genes"] == dropped
    nan = dict(profile, **{dropped[0]: float("nan")})
    assert predictor.predict(SampleInput(sid, expression=nan), impute_missing=True).imputed_genes == dropped[:1]
    too_few = dict(list(profile.items())[: int(50 * (1 - MAX_IMPUTED_FRACTION)) - 1])
    with pytest.raises(ExpressionError, match="imputation fills at most 50%"):
        predictor.predict(SampleInput(sid, expression=too_few), impute_missing=True)


def test_bad_expression_is_a_named_error(served, predictor):
    sid, _, profile = patient(served)
    values = list(profile.values())
    with pytest.raises(ExpressionError, match="has 49 values, the model takes 50") as caught:
        predictor.predict(SampleInput(sid, expression=values[:-1]))
    assert caught.value.field == "expression"
    with pytest.raises(ExpressionError, match="missing or NaN") as caught:
        predictor.predict(SampleInput(sid, expression=[float("nan"), *values[1:]]))
    assert caught.value.field == list(profile)[0]
    with pytest.raises(ExpressionError, match="is not a number"):
        predictor.predict(SampleInput(sid, expression=dict(profile, **{list(profile)[1]: "high"})))
    other_cohort = {f"ENSG{k:011d}": 5.0 for k in range(50)}
    with pytest.raises(ExpressionError, match="shares none of the model's 50 genes") as caught:
        predictor.predict(SampleInput(sid, expression=other_cohort))
    assert "synthetic-s0" in str(caught.value)


def test_bad_images_are_named_errors(served, predictor, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ImageError, match="cannot decode") as caught:
        predictor.predict(SampleInput("s1", read_images([str(broken)])))
    assert caught.value.file == str(broken) and caught.value.row == "s1"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(ImageError, match="folder holds no image files") as caught:
        read_images([str(tmp_path / "empty")])
    assert caught.value.file == str(tmp_path / "empty")
    with pytest.raises(ImageError, match="image file not found"):
        read_images([str(tmp_path / "absent.bmp")])
    with pytest.raises(ImageError, match="not valid base64") as caught:
        read_images(["data:image/png;base64,@@@"], row="s2")
    assert caught.value.row == "s2"


def test_unknown_model_uri_and_missing_database_are_named(served, tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load the model in tracking URI sqlite:") as caught:
        load_predictor("models:/no-such-model@champion", tracking_uri=served.tracking_uri)
    assert caught.value.file == "models:/no-such-model@champion"
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_predictor(served.uri, tracking_uri=f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(ModelLoadError, match="no MLmodel file"):
        load_predictor(str(tmp_path))


def test_pyfunc_takes_base64_images_and_loads_without_pickle(served, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    sid, images, profile = patient(served, 2)
    encoded = ["data:image/bmp;base64," + base64.b64encode(Path(p).read_bytes()).decode() for p in images]
    with using_tracking_uri(served.tracking_uri):
        model = mlflow.pyfunc.load_model(served.uri, model_config={"device": "cpu"})
    frame = pd.DataFrame(
        [
            {"sample_id": sid, "images": encoded, "expression": list(profile.values())},
            {"sample_id": "paths", "images": images, "expression": None},
        ]
    )
    first, second = model.predict(frame, params={"top_tiles": 2})
    assert first["model"] == "fusion" and len(first["top_tiles"]) == 2
    assert first["images"] == ["data-uri[0]", "data-uri[1]"]
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert (second["model"], second["missing_modality"]) == ("image", "expression")
    with pytest.raises(MlflowException, match="row x: neither images nor expression given"):
        model.predict(pd.DataFrame([{"sample_id": "x", "images": None}]))


def test_input_table_columns_are_checked():
    with pytest.raises(LeukInputError, match="unknown column") as caught:
        samples_from_frame(pd.DataFrame([{"sample_id": "x", "pixels": [1]}]))
    assert caught.value.field == "pixels"


def test_loading_leaves_the_tracking_variable_as_it_was(served, monkeypatch):
    """MLflow's set_tracking_uri sets MLFLOW_TRACKING_URI process-wide; loading must not leave it behind, or a
    later run of another config in this process would log to the model's database."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    load_predictor(served.uri, tracking_uri=served.tracking_uri, device="cpu")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere.db")
    load_predictor(served.uri, tracking_uri=served.tracking_uri, device="cpu")
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:////elsewhere.db"


def test_samples_predicted_together_run_packed_and_get_what_each_gets_alone(served, predictor):
    samples = []
    for k in range(3):
        sid, images, profile = patient(served, k)
        samples.append(SampleInput(sid, read_images(images), profile))
    sid, images, profile = patient(served, 3)
    samples += [SampleInput(sid, read_images(images)), SampleInput(sid, expression=profile)]
    together = predictor.predict_many(samples)
    assert [p.model for p in together] == ["fusion"] * 3 + ["image", "genomic"]
    for sample, packed in zip(samples, together, strict=True):
        alone = predictor.predict(sample)
        np.testing.assert_allclose(packed.probabilities, alone.probabilities, atol=1e-5)
        np.testing.assert_allclose(packed.attention, alone.attention, atol=1e-5)


def test_late_fusion_is_served_and_explained_where_it_is_the_two_modality_model(served, predictor, tmp_path):
    bags = load_bags(served.cohort, served.config)
    bundles = {"late_fusion": train_final("late_fusion", served.cohort, bags, served.config)}
    bundles |= {m: served.bundle(m) for m in ("image", "genomic")}
    spec = dataclasses.replace(predictor.spec, models=served_models(list(bundles)))
    late = Predictor(spec, bundles, predictor.backbone_weights, device="cpu")
    sid, images, profile = patient(served)
    sample = SampleInput(sid, read_images(images), profile)
    prediction = late.predict(sample)
    assert (prediction.model, prediction.missing_modality) == ("late_fusion", None)
    model = bundles["late_fusion"].build("cpu")
    with torch.inference_mode():
        output = model(torch.from_numpy(bags[sid].features), torch.tensor(list(profile.values()), dtype=torch.float32))
    np.testing.assert_allclose(prediction.probabilities, output.logits.softmax(-1).numpy(), atol=1e-4)
    np.testing.assert_allclose(prediction.attention, output.attention.numpy(), atol=1e-4)
    assert late.predict(SampleInput(sid, read_images(images))).model == "image"
    figures = explain_prediction(late, prediction, sample, tmp_path / "explanation")
    assert set(figures) == set(MODELS["late_fusion"].explains)
    assert all(path.is_file() for path in figures.values())
