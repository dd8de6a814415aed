"""``leukmodel evaluate``: a registered model on a held-out, labelled cohort."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "model_uri", required=True, help="models:/NAME@ALIAS, models:/NAME/VERSION or a model folder.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: <output_dir>/external-<cohort name> of the config).",
)
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    help="MLflow tracking URI of the model and of the evaluation run [default: MLFLOW_TRACKING_URI, else the "
    "config's tracking.mlflow_uri].",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress.")
def evaluate(
    config_path: Path, model_uri: str, out: Path | None, tracking_uri: str | None, device: str, progress: bool
) -> None:
    """Predict every sample of CONFIG's labelled cohort with a registered model: metrics with bootstrap 95%
    intervals, the confusion matrix, ROC curves and per-sample predictions, to a folder and to an MLflow run
    linked to the model version (tagged leukmodel.kind=external_evaluation).
    """
    from mlflow.tracking import MlflowClient

    from leukmodel.config import load_config
    from leukmodel.data import build_cohort
    from leukmodel.evaluation.external import evaluate_external
    from leukmodel.serving import load_predictor
    from leukmodel.tracking.external import log_external_evaluation
    from leukmodel.tracking.setup import ensure_experiment
    from leukmodel.tracking.setup import tracking_uri as config_tracking_uri

    config = load_config(config_path)
    uri = tracking_uri or config_tracking_uri(config)
    config.tracking.mlflow_uri = uri
    predictor = load_predictor(model_uri, tracking_uri=uri, device=device)
    cohort = build_cohort(config)
    out = out or config.output_dir / f"external-{cohort.name}"
    result = evaluate_external(predictor, cohort, out, model_uri, config.cv.bootstrap, config.seed, progress)
    run_id = log_external_evaluation(MlflowClient(uri), model_uri, result, ensure_experiment(config), cohort.tags())
    click.echo(result.to_markdown(model_uri))
    click.echo(f"results: {out}\nMLflow run: {run_id} ({uri})")
