"""``leukmodel explain RUN_ID --sample ID`` and ``leukmodel report RUN_ID``: explanations and the HTML report of a
cross-validation's MLflow run, written locally and logged back to the run.

The run is found at ``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else the tracking URI of ``--config CONFIG``
(its ``tracking.mlflow_uri``, else the SQLite file in its ``output_dir``: where ``leukmodel run CONFIG`` logged).
The run's own ``config.yaml`` and ``cv/`` artifacts then say everything else; the cohort and its feature bags are
rebuilt from the files and the local feature cache that config names.
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
    from mlflow.tracking import MlflowClient

    from leukmodel.config import Config
    from leukmodel.data import Cohort
    from leukmodel.features import Bag

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
    from leukmodel.training.plan import USES_IMAGES

    with tempfile.TemporaryDirectory(prefix="leukmodel-explain-") as staging:
        run = _Run.open(run_id, tracking_uri, config_path, Path(staging))
        cv_dir = run.download_cv(models=False)
        model = model or _reference(cv_dir)
        where = out_of_fold(cv_dir, sample_id, model)
        run.download(f"cv/models/{where.bundle_path.name}")
        bundle = where.load_bundle()
        cohort, bags = run.cohort(images=USES_IMAGES[model])
        backbone = load_explanation_backbone(run.config, run.backbone_sha256) if USES_IMAGES[model] else None
        out = out or Path(f"explanations-{run_id}") / sample_folder(sample_id)
        explanation = explain_sample(sample_id, cohort, bags, run.config, bundle, out, backbone=backbone)
    run.client.log_artifacts(run_id, str(out), f"explanations/{sample_folder(sample_id)}")
    click.echo(
        f"sample {sample_id}: true {explanation.label}, predicted {explanation.predicted} "
        f"({model}, fold {explanation.fold})"
    )
    click.echo(f"written to {out} and logged to run {run_id} under explanations/{sample_folder(sample_id)}/")


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
    from leukmodel.explain import explain_cv
    from leukmodel.report import build_report
    from leukmodel.training.plan import USES_IMAGES

    out = out or Path(f"report-{run_id}.html")
    with tempfile.TemporaryDirectory(prefix="leukmodel-report-") as staging:
        run = _Run.open(run_id, tracking_uri, config_path, Path(staging))
        cv_dir = run.download_cv(models=True)
        explanations = run.download_explanations()
        if explanations is None:
            cohort, bags = run.cohort(images=USES_IMAGES[_reference(cv_dir)])
            explanations = run.staging / "explanations"
            explain_cv(cv_dir, cohort, bags, run.config, explanations, backbone_sha256=run.backbone_sha256)
            run.client.log_artifacts(run_id, str(explanations), "explanations")
        build_report(cv_dir, explanations, out, tags=run.tags, run_id=run_id)
        logged = run.staging / "report" / "report.html"
        logged.parent.mkdir()
        logged.write_bytes(out.read_bytes())
        run.client.log_artifact(run_id, str(logged), "report")
    click.echo(f"report written to {out} and logged to run {run_id} as report/report.html")


@dataclass
class _Run:
    """A cross-validation's MLflow run, its downloaded artifacts and its config."""

    run_id: str
    client: MlflowClient
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
        tags = dict(run.data.tags)
        config = load_config(cls.fetch(client, run_id, "config.yaml", staging))
        return cls(run_id, client, tags, staging, config)

    @property
    def backbone_sha256(self) -> str | None:
        from leukmodel.tracking.layout import tag

        return self.tags.get(tag("backbone_sha256"))

    def download(self, artifact: str) -> Path:
        """One artifact (file or folder) of the run, at the same relative path under the staging folder."""
        return self.fetch(self.client, self.run_id, artifact, self.staging)

    @staticmethod
    def fetch(client: MlflowClient, run_id: str, artifact: str, into: Path) -> Path:
        """One artifact (file or folder) of run ``run_id``, at the same relative path under ``into``.

        Raises:
            ArtifactError: the run has no such artifact.
        """
        from leukmodel.explain import ArtifactError

        parent = Path(artifact).parent
        names = {Path(f.path).name for f in client.list_artifacts(run_id, None if parent == Path(".") else str(parent))}
        if Path(artifact).name not in names:
            raise ArtifactError(
                f"run {run_id} has no artifact '{artifact}'",
                expected="a cross-validation's parent run with config.yaml and cv/ logged (leukmodel run)",
            )
        destination = into / parent
        destination.mkdir(parents=True, exist_ok=True)
        return Path(client.download_artifacts(run_id, artifact, str(destination)))

    def download_cv(self, models: bool) -> Path:
        """The run's ``cv/`` tables (and, with ``models``, every fold model) into the staging folder."""
        if models:
            return self.download("cv")
        for name in ("predictions.csv", "folds.csv", "run.json"):
            self.download(f"cv/{name}")
        return self.staging / "cv"

    def download_explanations(self) -> Path | None:
        """The run's ``explanations/`` when ``explain_cv`` logged them (an ``index.json``), else ``None``."""
        names = {Path(f.path).name for f in self.client.list_artifacts(self.run_id, "explanations")}
        return self.download("explanations") if "index.json" in names else None

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
    return json.loads((cv_dir / "run.json").read_text())["config"]["cv"]["reference"]
