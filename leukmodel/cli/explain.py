"""``leukmodel explain RUN_ID --sample ID`` and ``leukmodel report RUN_ID``: explanations and the HTML report of a
cross-validation's MLflow run, written locally and logged back to the run.

The run is found at ``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else the tracking URI of ``--config CONFIG``
(its ``tracking.mlflow_uri``, else the SQLite file in its ``output_dir``: where ``leukmodel run CONFIG`` logged).
The run's own config and cross-validation artifacts (:mod:`leukmodel.tracking.layout`) then say everything else;
the cohort and its feature bags are rebuilt from the files and the local feature cache that config names.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from leukmodel.config import Config
    from leukmodel.data import Cohort
    from leukmodel.features import Bag
    from leukmodel.tracking.artifacts import RunArtifacts

RUN_OPTIONS = [
    click.option("--tracking-uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)."),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="A config whose tracking settings locate the run, when neither --tracking-uri nor MLFLOW_TRACKING_URI.",
    ),
]


def run_options(command):
    for option in reversed(RUN_OPTIONS):
        command = option(command)
    return command


@click.command()
@click.argument("run_id")
@click.option("--sample", "sample_id", required=True, help="The sample to explain (a sample id of the run).")
@click.option("--model", default=None, help="The model to explain (default: the run's cv.reference, e.g. fusion).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Local folder for the figures and tables (default: explanations-<run>/<sample>).",
)
@run_options
def explain(
    run_id: str, sample_id: str, model: str | None, out: Path | None, tracking_uri: str | None, config_path: Path | None
) -> None:
    """Explain one sample of cross-validation run RUN_ID out of fold, and log it to the run.

    The sample is explained by the fold model that tested it: MIL and cross-attention maps and Grad-CAM over its
    original images, SHAP of its genes. The files are logged under explanations/<sample>/ of the run.
    """
    from leukmodel.explain import explain_sample, load_explanation_backbone, out_of_fold, sample_folder
    from leukmodel.explain.artifacts import OUT_OF_FOLD_TABLES
    from leukmodel.models.registry import uses_images
    from leukmodel.tracking.layout import cv_file, explanation
    from leukmodel.training.cv import RUN_JSON

    with tempfile.TemporaryDirectory(prefix="leukmodel-explain-") as staging:
        run = _Run.open(run_id, tracking_uri, config_path, Path(staging))
        cv_dir = run.artifacts.download_cv(run.staging, (*OUT_OF_FOLD_TABLES, RUN_JSON))
        model = model or _reference(cv_dir)
        where = out_of_fold(cv_dir, sample_id, model)
        run.artifacts.download(cv_file(where.bundle_path.relative_to(cv_dir).as_posix()), run.staging)
        bundle = where.load_bundle()
        cohort, bags = run.cohort(images=uses_images(model))
        backbone = load_explanation_backbone(run.config, run.backbone_sha256) if uses_images(model) else None
        out = out or Path(f"explanations-{run_id}") / sample_folder(sample_id)
        result = explain_sample(sample_id, cohort, bags, run.config, bundle, out, backbone=backbone)
    run.artifacts.log_explanations(out, sample_folder(sample_id))
    click.echo(f"sample {sample_id}: true {result.label}, predicted {result.predicted} ({model}, fold {result.fold})")
    click.echo(f"written to {out} and logged to run {run_id} under {explanation(sample_folder(sample_id))}/")


@click.command()
@click.argument("run_id")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the HTML report (default: report-<run>.html).",
)
@run_options
def report(run_id: str, out: Path | None, tracking_uri: str | None, config_path: Path | None) -> None:
    """Write the self-contained HTML report of cross-validation run RUN_ID, and log it to the run.

    Explanations already logged under explanations/ are used; without them, a few samples per class
    (explain.samples_per_class) are explained first and logged there.
    """
    from leukmodel.app.report import explain_and_report
    from leukmodel.models.registry import uses_images
    from leukmodel.tracking.layout import REPORT

    out = out or Path(f"report-{run_id}.html")
    with tempfile.TemporaryDirectory(prefix="leukmodel-report-") as staging:
        run = _Run.open(run_id, tracking_uri, config_path, Path(staging))
        cv_dir = run.artifacts.download_cv(run.staging)
        explain_and_report(
            run.artifacts,
            cv_dir,
            run.config,
            lambda: run.cohort(images=uses_images(_reference(cv_dir))),
            run.staging,
            out,
            reuse_logged=True,
        )
    click.echo(f"report written to {out} and logged to run {run_id} as {REPORT}")


@dataclass
class _Run:
    """A cross-validation's MLflow run, its artifacts, a staging folder for them and its config."""

    run_id: str
    artifacts: RunArtifacts
    tags: dict[str, str]
    staging: Path
    config: Config

    @classmethod
    def open(cls, run_id: str, tracking_uri: str | None, config_path: Path | None, staging: Path) -> _Run:
        """The run ``run_id``, its config downloaded into ``staging`` and read."""
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        from leukmodel.config import load_config
        from leukmodel.explain import ArtifactError
        from leukmodel.tracking.artifacts import RunArtifacts
        from leukmodel.tracking.setup import check_reachable

        uri = check_reachable(_tracking_uri(tracking_uri, config_path))
        client = MlflowClient(uri)
        try:
            run = client.get_run(run_id)
        except MlflowException as exc:
            raise ArtifactError(
                f"no MLflow run '{run_id}' ({exc.message.splitlines()[0]})",
                file=uri,
                expected="the id of a cross-validation's parent run at this tracking URI",
            ) from None
        artifacts = RunArtifacts(client, run_id)
        config = load_config(artifacts.download_config(staging))
        return cls(run_id, artifacts, dict(run.data.tags), staging, config)

    @property
    def backbone_sha256(self) -> str | None:
        from leukmodel.tracking.layout import tag

        return self.tags.get(tag("backbone_sha256"))

    def cohort(self, images: bool) -> tuple[Cohort, Mapping[str, Bag]]:
        """The run's cohort and, when ``images``, its bags from the local feature cache (layer3 maps, streamed,
        when the run fine-tuned layer4)."""
        from leukmodel.data import build_cohort
        from leukmodel.features import training_bags

        cohort = build_cohort(self.config)
        return cohort, (training_bags(cohort, self.config) if images and cohort.has_images else {})


def _tracking_uri(option: str | None, config_path: Path | None) -> str:
    from leukmodel.errors import ConfigError

    if option:
        return option
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if config_path is not None:
        from leukmodel.config import load_config
        from leukmodel.tracking.setup import tracking_uri

        return tracking_uri(load_config(config_path))
    raise ConfigError(
        "no MLflow tracking URI to find the run in",
        field="--tracking-uri",
        expected="--tracking-uri URI, the MLFLOW_TRACKING_URI variable, or --config CONFIG of the run",
    )


def _reference(cv_dir: Path) -> str:
    """The McNemar reference the cross-validation in ``cv_dir`` resolved (its ``run.json``)."""
    from leukmodel.training.cv import RUN_JSON

    return json.loads((cv_dir / RUN_JSON).read_text())["config"]["cv"]["reference"]
