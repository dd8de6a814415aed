"""The HTML report: self-contained, rendered by headless Chromium without a broken image or a console error, and
the ``leukmodel explain`` / ``leukmodel report`` commands against an MLflow run laid out as the pipeline logs it."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from PIL import Image
from test_explain import ExplainedRun, session_explained_run

from leukmodel.cli import cli
from leukmodel.features import load_backbone
from leukmodel.report import build_report, provenance_flags
from leukmodel.tracking.layout import tag

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FIGURES_PER_SAMPLE = 5


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory, test_seed: int) -> ExplainedRun:
    return session_explained_run(tmp_path_factory, test_seed)


def render(html: Path, screenshot: Path) -> tuple[int, list[str], list[str]]:
    """Open ``html`` in headless Chromium: images, images that did not load, console errors; full-page screenshot."""
    if not Path(CHROMIUM).is_file() or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail(f"headless Chromium is needed: Debian's chromium at {CHROMIUM} and playwright (test extra)")
        pytest.skip("Debian's chromium or playwright is not installed")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
        page.goto(html.resolve().as_uri(), wait_until="load")
        images = page.evaluate("() => Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return len(images), [alt for alt, loaded in images if not loaded], errors


def test_report_is_self_contained_and_renders_in_chromium(run: ExplainedRun, tmp_path: Path) -> None:
    out = build_report(run.cv_dir, run.explanations_dir, tmp_path / "report.html", run_id="0123abcd")
    text = out.read_text()
    assert not re.findall(r'(?:src|href)="(?!data:)', text), "every image and link is embedded"
    assert "<script" not in text
    for words in ("SYNTHETIC data", "pairing: paired", "backbone resnet18: NOT pretrained", "McNemar", "0123abcd"):
        assert words in text
    for explanation in run.explanations:
        assert f"Sample {explanation.sample_id}: true {explanation.label}" in text

    n_images, broken, errors = render(out, tmp_path / "report.png")
    n_models = len(json.loads((run.cv_dir / "run.json").read_text())["models"])
    assert n_images == 2 * n_models + 1 + FIGURES_PER_SAMPLE * len(run.explanations)
    assert broken == []
    assert errors == []
    full = Image.open(tmp_path / "report.png").convert("RGB")
    assert full.height > 5000, "the whole page was captured"
    screenshot = np.asarray(full.reduce(4))
    assert screenshot.std() > 30, "the screenshot is not blank"
    assert len(np.unique(screenshot.reshape(-1, 3), axis=0)) > 1000, "figures were drawn"


def test_report_without_explanations_says_so(run: ExplainedRun, tmp_path: Path) -> None:
    text = build_report(run.cv_dir, None, tmp_path / "report.html").read_text()
    assert "No explanations were computed for this run." in text
    assert text.count("<img") == 2 * len(json.loads((run.cv_dir / "run.json").read_text())["models"])


def test_provenance_flags_in_plain_words() -> None:
    run = {"tags": {"pairing": "label_matched", "synthetic": "false"}, "config": {"backbone": {"arch": "resnet50"}}}
    flags = provenance_flags(run, {tag("pretrained"): "true", tag("backbone_weights"): "imagenet"})
    assert [(f.text, f.warn) for f in flags] == [
        ("real data", False),
        ("LABEL-MATCHED pairing", True),
        ("backbone resnet50: pretrained (imagenet)", False),
    ]
    assert "say nothing about real patients" in flags[1].note
    run = {
        "tags": {"pairing": "paired", "synthetic": "true"},
        "config": {"backbone": {"arch": "resnet18", "weights": "none"}},
    }
    flags = provenance_flags(run)
    assert [f.warn for f in flags] == [True, False, True]


@pytest.fixture(scope="module")
def tracked(run: ExplainedRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A SQLite MLflow parent run laid out as leukmodel/tracking/layout.py says: config.yaml and cv/."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("synthetic", artifact_location=(root / "artifacts").as_uri())
    _, info = load_backbone(run.config.backbone)
    tags = {tag(k): v for k, v in {**run.cohort.tags(), **info.tags()}.items()}
    run_id = client.create_run(experiment, tags={**tags, tag("kind"): "cross_validation"}).info.run_id
    config = run.config.model_copy(update={"explain": run.config.explain.model_copy(update={"samples_per_class": 1})})
    client.log_artifact(run_id, str(config.to_yaml(root / "config.yaml")))
    client.log_artifacts(run_id, str(run.cv_dir), "cv")
    return uri, run_id


def test_cli_explain_then_report_log_to_the_run(run: ExplainedRun, tracked: tuple[str, str], tmp_path: Path) -> None:
    uri, run_id = tracked
    client = MlflowClient(uri)
    sample_id = run.explanations[0].sample_id
    result = CliRunner().invoke(
        cli, ["explain", run_id, "--sample", sample_id, "--tracking-uri", uri, "--out", str(tmp_path / "one")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "one" / "gradcam.png").is_file()
    logged = {Path(f.path).name for f in client.list_artifacts(run_id, f"explanations/{sample_id}")}
    assert {"explanation.json", "gradcam.png", "shap_genes.png", "mil_attention.png"} <= logged

    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", run_id, "--tracking-uri", uri, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Class ALL" in out.read_text()
    assert "index.json" in {Path(f.path).name for f in client.list_artifacts(run_id, "explanations")}
    assert [f.path for f in client.list_artifacts(run_id, "report")] == ["report/report.html"]


def test_cli_errors_name_the_problem(run: ExplainedRun, tracked: tuple[str, str], monkeypatch) -> None:
    uri, run_id = tracked
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(cli, ["report", run_id])
    assert result.exit_code != 0 and "--tracking-uri URI, the MLFLOW_TRACKING_URI variable" in result.output
    result = CliRunner().invoke(cli, ["report", "f" * 32, "--tracking-uri", uri])
    assert result.exit_code != 0 and f"no MLflow run '{'f' * 32}'" in result.output
    result = CliRunner().invoke(cli, ["explain", run_id, "--sample", "nobody", "--tracking-uri", uri])
    assert result.exit_code != 0 and "unknown sample id 'nobody'" in result.output
    client = MlflowClient(uri)
    bare = client.create_run(client.get_run(run_id).info.experiment_id).info.run_id
    result = CliRunner().invoke(cli, ["report", bare, "--tracking-uri", uri])
    assert result.exit_code != 0 and "has no artifact 'config.yaml'" in result.output
