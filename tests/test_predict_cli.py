"""``leukmodel predict`` on one synthetic patient of the registered model, and its named errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from test_serving_model import ServedModel, build_served_model

from leukmodel.cli import cli
from leukmodel.data.synthetic.writer import EXPRESSION


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> ServedModel:
    return build_served_model(tmp_path_factory.getbasetemp() / "served-model")


def predict(served: ServedModel, *args: str):
    base = ["predict", "--model", served.uri, "--tracking-uri", served.tracking_uri, "--device", "cpu"]
    return CliRunner().invoke(cli, [*base, *args])


def test_predict_prints_the_prediction_of_one_synthetic_patient(served):
    sample = served.cohort.samples[0]
    subject = "_".join(sample.images[0].name.split("_")[:2])  # UID_<patient>, C-NMC naming
    pattern = served.root / "cohort" / "images" / "**" / f"{subject}_*.bmp"
    expression = served.root / "cohort" / EXPRESSION
    args = ["--images", str(pattern), "--expression", str(expression), "--sample-id", sample.expression_id]
    result = predict(served, *args, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.output)["images"]) == sorted(str(p) for p in sample.images)
    result = predict(served, *args)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(f"sample {sample.expression_id}: ")
    assert "by the fusion model (images + expression)" in first
    assert "tiles by attention:" in result.output
    assert "synthetic=true" in result.output


def test_predict_json_with_images_only_is_flagged_and_reads_a_folder(served, tmp_path):
    sample = served.cohort.samples[1]
    folder = tmp_path / "patient"
    folder.mkdir()
    for path in sample.images:
        (folder / path.name).write_bytes(path.read_bytes())
    result = predict(served, "--images", str(folder), "--json", "--top-tiles", "2")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert (record["model"], record["missing_modality"]) == ("image", "expression")
    assert len(record["top_tiles"]) == 2
    assert sorted(record["images"]) == sorted(str(folder / p.name) for p in sample.images)


def test_predict_expression_genes_as_rows_with_imputation_is_reported(served, tmp_path):
    sample = served.cohort.samples[2]
    profile = served.cohort.expression.loc[sample.expression_id]
    table = pd.DataFrame({"gene": profile.index[1:], sample.expression_id: profile.to_numpy()[1:]})
    table.to_csv(tmp_path / "one.csv", index=False)
    result = predict(served, "--expression", str(tmp_path / "one.csv"))
    assert result.exit_code == 1
    assert (
        f"row {sample.expression_id}, field '{profile.index[0]}': 1 of the model's 50 genes are missing"
        in result.output
    )
    result = predict(served, "--expression", str(tmp_path / "one.csv"), "--impute-missing")
    assert result.exit_code == 0, result.output
    assert "by the genomic-only model: no images given" in result.output
    assert f"imputed from training means: 1 gene(s): {profile.index[0]}" in result.output


def test_predict_names_bad_inputs(served, tmp_path, cumida_sample):
    (tmp_path / "empty").mkdir()
    result = predict(served, "--images", str(tmp_path / "empty"))
    assert result.exit_code == 1 and "folder holds no image files" in result.output
    result = predict(served, "--expression", str(cumida_sample))
    assert result.exit_code == 1
    assert "none of the model's 50 genes is a column or a first-column value" in result.output
    expression = served.root / "cohort" / EXPRESSION
    result = predict(served, "--expression", str(expression))
    assert result.exit_code == 1 and "the file holds 16 samples" in result.output
    result = CliRunner().invoke(
        cli, ["predict", "--model", "models:/nope@champion", "--tracking-uri", served.tracking_uri, "--images", "x"]
    )
    assert result.exit_code == 1
    assert "models:/nope@champion: cannot load the model in tracking URI" in result.output
    result = predict(served)
    assert result.exit_code == 2 and "give --images, --expression or both" in result.output


def test_predict_explain_writes_the_figures_of_the_prediction(served, tmp_path):
    sample = served.cohort.samples[3]
    images = [arg for path in sample.images for arg in ("--images", str(path))]
    expression = served.root / "cohort" / EXPRESSION
    out = tmp_path / "why"
    args = [*images, "--expression", str(expression), "--sample-id", sample.expression_id, "--explain", str(out)]
    result = predict(served, *args, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    kinds = {"mil_attention", "gradcam", "genomic_to_image", "image_to_genomic", "shap_genes"}
    assert set(record["explanations"]) == kinds
    assert all((out / f"{kind}.png").stat().st_size > 0 for kind in kinds)
    explanation = json.loads((out / "explanation.json").read_text())
    assert explanation["predicted"] == record["predicted_class"] and explanation["model"] == "fusion"
    tiles = pd.read_csv(out / "top_tiles.csv")
    assert list(tiles["x"]) == [t["x"] for t in record["top_tiles"]]
    genes = pd.read_csv(out / "top_genes.csv")
    assert set(genes["probe"]) <= set(served.cohort.genes)
