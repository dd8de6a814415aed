"""``leukmodel predict``: one sample's images and/or expression through a registered model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from leukmodel.cli.options import served_model_options


@click.command()
@click.option(
    "--model",
    "model_uri",
    required=True,
    help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model, or a local MLflow model folder.",
)
@click.option(
    "--images",
    multiple=True,
    type=click.Path(path_type=Path),
    help="An image file or a folder of images (searched recursively); repeat for more. Omit for expression only.",
)
@click.option(
    "--expression",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV (TSV for .tsv/.txt) of expression: samples as rows (first column the ids) or genes as rows. "
    "Omit for images only.",
)
@click.option("--sample-id", help="The sample to take from the expression file, and the prediction's name.")
@click.option("--impute-missing", is_flag=True, help="Fill absent or NaN genes with training means (reported).")
@click.option("--top-tiles", type=click.IntRange(min=1), help="Tiles to list by attention [default: the model's].")
@click.option(
    "--explain",
    "explain_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the prediction's explanation here: attention maps, Grad-CAM and SHAP figures with their tables.",
)
@served_model_options("for models:/ and runs:/ URIs [default: MLFLOW_TRACKING_URI, else MLflow's default]")
@click.option("--json", "as_json", is_flag=True, help="Print the prediction as JSON.")
def predict(
    model_uri: str,
    images: tuple[Path, ...],
    expression: Path | None,
    sample_id: str | None,
    impute_missing: bool,
    top_tiles: int | None,
    explain_dir: Path | None,
    tracking_uri: str | None,
    device: str,
    as_json: bool,
) -> None:
    """Predict one sample: class probabilities, the predicted class and the tiles with the most attention.

    With images and expression the fusion model answers; with only one of them, the single-modality model of
    the same run answers and the output says so.
    """
    from leukmodel.errors import LeukInputError
    from leukmodel.serving import SampleInput, load_predictor, read_expression_csv, read_images

    if not images and expression is None:
        raise click.UsageError("give --images, --expression or both")
    if explain_dir is not None:
        from leukmodel.owned import owned_folder

        owned_folder(explain_dir, "the explanation")  # refused before the model is loaded, not after predicting
    predictor = load_predictor(model_uri, tracking_uri=tracking_uri, device=device)
    profile = None
    if expression is not None:
        if not predictor.spec.genes:
            raise LeukInputError(
                "the model takes no expression", file=expression, expected="--images only for this model"
            )
        sample_id, profile = read_expression_csv(expression, predictor.spec.genes, sample_id)
    sample = SampleInput(sample_id or "sample", read_images([str(p) for p in images]), profile)
    prediction = predictor.predict(sample, impute_missing=impute_missing)
    record = prediction.to_record(top_tiles or predictor.spec.top_tiles)
    if explain_dir is not None:
        from leukmodel.serving.explain import explain_prediction

        figures = explain_prediction(predictor, prediction, sample, explain_dir, top_tiles=top_tiles)
        record["explanations"] = {kind: str(path) for kind, path in figures.items()}
    click.echo(json.dumps(record, indent=2) if as_json else _text(record, predictor.spec.cohort))


def _text(record: dict, cohort: str) -> str:
    by = (
        f"the {record['model']} model (images + expression)"
        if record["missing_modality"] is None
        else f"the {record['model']}-only model: no {record['missing_modality']} given"
    )
    best = record["probabilities"][record["predicted_class"]]
    lines = [
        f"sample {record['sample_id']}: {record['predicted_class']} (p={best:.3f}) by {by}",
        "probabilities: " + "  ".join(f"{c} {p:.3f}" for c, p in record["probabilities"].items()),
    ]
    if record["top_tiles"]:
        lines.append(f"top {len(record['top_tiles'])} of {record['n_tiles']} tiles by attention:")
        lines += [
            f"  {t['rank']:>2}. {t['attention']:.3f}  {t['image']}  x={t['x']} y={t['y']} ({t['size']} px)"
            for t in record["top_tiles"]
        ]
    for image, reason in record["skipped_images"].items():
        lines.append(f"skipped {image}: {reason}")
    if record["imputed_genes"]:
        genes = record["imputed_genes"]
        shown = ", ".join(genes[:10]) + (", ..." if len(genes) > 10 else "")
        lines.append(f"imputed from training means: {len(genes)} gene(s): {shown}")
    tags = ", ".join(f"{k}={v}" for k, v in record["tags"].items())
    lines.append(f"trained on cohort {cohort} ({tags})")
    lines += [f"explanation ({kind}): {path}" for kind, path in record.get("explanations", {}).items()]
    return "\n".join(lines)
