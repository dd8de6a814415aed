"""``leukmodel evaluate``: a registered model on a held-out, labelled cohort."""

from __future__ import annotations

from pathlib import Path

import click

from leukmodel.cli.options import served_model_options


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "model_uri", required=True, help="models:/NAME@ALIAS, models:/NAME/VERSION or a model folder.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: <output_dir>/external-<cohort name> of the config).",
)
@served_model_options(
    "of the model and of the evaluation run [default: MLFLOW_TRACKING_URI, else the config's tracking.mlflow_uri]"
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress.")
def evaluate(
    config_path: Path, model_uri: str, out: Path | None, tracking_uri: str | None, device: str, progress: bool
) -> None:
    """Predict every sample of CONFIG's labelled cohort with a registered model: metrics with bootstrap 95%
    intervals, the confusion matrix, ROC curves and per-sample predictions, to a folder and to an MLflow run
    linked to the model version (tagged leukmodel.kind=external_evaluation).
    """
    from leukmodel.app.evaluate import evaluate_registered_model
    from leukmodel.config import load_config

    run = evaluate_registered_model(load_config(config_path), model_uri, out, tracking_uri, device, progress)
    click.echo(run.result.to_markdown(model_uri))
    click.echo(f"results: {run.result.out_dir}\nMLflow run: {run.run_id} ({run.tracking_uri})")
