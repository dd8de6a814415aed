"""``leukmodel demo`` and ``leukmodel run``: the whole pipeline as a Prefect flow."""

from __future__ import annotations

import os
from pathlib import Path

import click


def _prefect_defaults() -> None:
    """Settings for Prefect's temporary server, unless the user set them: it may start slowly on small machines,
    and it does not send anonymous usage telemetry (on a machine without internet that only logs an error)."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _run_pipeline(config) -> None:
    _prefect_defaults()
    from flows.pipeline import pipeline

    result = pipeline(config)
    click.echo(where_to_look(config, result))


def where_to_look(config, result) -> str:
    """How to open each UI on the results of a pipeline run."""
    from leukmodel.distributed import experiment_path
    from leukmodel.tracking.setup import experiment_name

    uri = result.tracking_uri
    lines = ["", "done.", ""]
    if result.registration is not None:
        reg = result.registration
        lines.append(
            f"registered model: {reg.name} version {reg.version} ({reg.alias}: {'yes' if reg.champion else 'no'}"
            f", {reg.reason})"
        )
    lines += [
        f"MLflow:  mlflow ui --backend-store-uri '{uri}' --port 5000   then http://127.0.0.1:5000",
        f"         experiment '{experiment_name(config)}', cross-validation run {result.run_id}",
        "Prefect: prefect server start   then http://127.0.0.1:4200 (flow runs of 'pipeline')",
        f"Ray:     trial results in {experiment_path(config)}; to watch trials live in the Ray dashboard, run",
        "         `ray start --head --include-dashboard=true` first and then the pipeline with RAY_ADDRESS=auto",
        "         (dashboard at http://127.0.0.1:8265)",
    ]
    if result.registration is not None:
        command = predict_command(config, result.registration, result.example)
        lines.append(f"predict: MLFLOW_TRACKING_URI='{uri}' {command}")
    return "\n".join(lines)


def predict_command(config, registration, sample) -> str:
    """A ``leukmodel predict`` command on the registered model for one sample of the cohort (an example: at most
    four of its images; with several expression files, the one that holds the sample is left to the reader)."""
    words = ["leukmodel predict", f"--model 'models:/{registration.name}@{registration.alias}'"]
    words += [f"--images '{path}'" for path in sample.images[:4]]
    if sample.expression_id is not None and config.data.expression is not None:
        files = config.data.expression.files
        words.append(f"--expression '{files[0]}'" if len(files) == 1 else "--expression <its expression file>")
        words.append(f"--sample-id '{sample.expression_id}'")
    return " ".join(words)


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("leukmodel-demo"),
    show_default=True,
    help="Folder for the synthetic cohort and all results.",
)
@click.option("--patients", default=60, show_default=True, help="Patients in the synthetic cohort.")
@click.option("--seed", default=0, show_default=True)
def demo(out: Path, patients: int, seed: int) -> None:
    """Run the whole pipeline on a synthetic cohort: Prefect, Ray Tune, MLflow, all local.

    Writes the cohort to OUT/cohort (C-NMC images, CuMiDa expression, manifest, config.yaml), then runs the
    `pipeline` flow on it: features, 5-fold cross-validation of every registered model (fusion, late fusion,
    image-only, genomic-only, the linear references), McNemar tests, explanations, the HTML report and a
    registered model. Prints how to open each UI afterwards.
    """
    from leukmodel.config import SyntheticConfig, load_config
    from leukmodel.data.synthetic import is_written, write_synthetic_cohort

    cohort, cfg = out / "cohort", SyntheticConfig(patients=patients, seed=seed)
    if is_written(cohort, cfg):
        config_path = cohort / "config.yaml"
        click.echo(f"synthetic cohort (already written): {config_path}")
    else:
        config_path = write_synthetic_cohort(cohort, cfg)
        click.echo(f"synthetic cohort: {config_path}")
    _run_pipeline(load_config(config_path))


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
def run(config_path: Path) -> None:
    """Run the whole pipeline (the `pipeline` Prefect flow) on the cohort CONFIG describes."""
    from leukmodel.config import load_config

    _run_pipeline(load_config(config_path))
