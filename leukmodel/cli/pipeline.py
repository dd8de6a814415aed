"""``leukmodel demo`` and ``leukmodel run``: the whole pipeline as a Prefect flow."""

from __future__ import annotations

import os
from pathlib import Path

import click


def _prefect_defaults() -> None:
    """A temporary Prefect server may start slowly on small machines; give it time unless the user said otherwise."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


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
        f"predict: MLFLOW_TRACKING_URI='{uri}' leukmodel predict --model models:/<name>@champion --images ... "
        "--expression ...",
    ]
    return "\n".join(lines)


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
    `pipeline` flow on it: features, 5-fold cross-validation of fusion vs image-only vs genomic-only, McNemar
    tests, explanations, the HTML report and a registered model. Prints how to open each UI afterwards.
    """
    from leukmodel.config import SyntheticConfig, load_config
    from leukmodel.data.synthetic import write_synthetic_cohort

    config_path = write_synthetic_cohort(out / "cohort", SyntheticConfig(patients=patients, seed=seed))
    click.echo(f"synthetic cohort: {config_path}")
    _run_pipeline(load_config(config_path))


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
def run(config_path: Path) -> None:
    """Run the whole pipeline (the `pipeline` Prefect flow) on the cohort CONFIG describes."""
    from leukmodel.config import load_config

    _run_pipeline(load_config(config_path))
