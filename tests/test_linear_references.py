"""Linear references, the models a cohort's modalities allow, and the not-evidence marking of label-matched runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from test_training import BAGS, CLASSES, COHORT, config

from leukmodel.cli import cli
from leukmodel.data.cohort import Cohort
from leukmodel.data.synthetic.microarray import sparse_signal_expression
from leukmodel.evaluation.evidence import NOT_EVIDENCE
from leukmodel.genomics.transform import GenomicTransform
from leukmodel.report import build_report
from leukmodel.training import make_folds, run_cross_validation, run_trial

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_linear_genomic_is_sklearn_on_the_fold_transform():
    cfg = config()
    trial = run_trial("linear_genomic", 1, COHORT, BAGS, cfg)
    fold = make_folds(COHORT, 3, 0.25, cfg.seed)[1]
    fitted = [*fold.train, *fold.val]
    transform = trial.genomic_transform
    x = transform.transform(COHORT.expression.loc[[f"x-{s}" for s in fitted]])
    expected = LogisticRegression(max_iter=5000).fit(x, [CLASSES.index(s.split("-")[0]) for s in fitted])
    test = transform.transform(COHORT.expression.loc[[f"x-{s}" for s in fold.test]])
    prob = trial.predictions.filter(like="prob_").to_numpy()
    np.testing.assert_allclose(prob, expected.predict_proba(test), atol=1e-4)
    train_rows = [f"x-{s}" for s in fold.train]  # the transform saw the training part only, as the MLP's
    same = GenomicTransform(cfg.genomic.log_transform, cfg.genomic.n_components).fit(COHORT.expression.loc[train_rows])
    np.testing.assert_array_equal(transform.components_, same.components_)


def test_linear_image_is_sklearn_on_mean_standardised_tiles():
    cfg = config()
    trial = run_trial("linear_image", 0, COHORT, BAGS, cfg)
    fold = make_folds(COHORT, 3, 0.25, cfg.seed)[0]
    scaler = StandardScaler().fit(np.concatenate([BAGS[s].features for s in fold.train]))
    fitted = [*fold.train, *fold.val]

    def mean_tiles(ids):
        return np.stack([scaler.transform(BAGS[s].features).mean(0) for s in ids])

    expected = LogisticRegression(max_iter=5000).fit(mean_tiles(fitted), [CLASSES.index(s[:3]) for s in fitted])
    prob = trial.predictions.filter(like="prob_").to_numpy()
    np.testing.assert_allclose(prob, expected.predict_proba(mean_tiles(fold.test)), atol=1e-4)


BOTH = ("fusion", "late_fusion")


@pytest.mark.parametrize(
    ("pairing", "run", "left_out", "reference"),
    [
        ("expression_only", {"genomic", "linear_genomic"}, {*BOTH, "image", "linear_image"}, "genomic"),
        ("image_only", {"image", "linear_image"}, {*BOTH, "genomic", "linear_genomic"}, "image"),
    ],
)
def test_default_models_are_what_the_modalities_allow(pairing, run, left_out, reference):
    expression = COHORT.expression if pairing == "expression_only" else None
    cohort = Cohort("toy", COHORT.samples, CLASSES, expression=expression, pairing=pairing)
    result = run_cross_validation(cohort, BAGS, config(training={"max_epochs": 2}, cv={"save_models": False}))
    assert set(result.predictions["model"]) == run
    assert set(result.run["models_left_out"]) == left_out
    assert result.run["config"]["cv"]["reference"] == reference
    text = result.to_markdown()
    assert text.startswith(f"**{reference}** ") and "its linear reference linear_" in text.split("\n")[0]
    assert "Models not run: fusion (needs " in text


def test_cv_models_can_leave_the_linear_references_out():
    result = run_cross_validation(COHORT, BAGS, config(training={"max_epochs": 1}, cv={"models": ["genomic"]}))
    assert set(result.predictions["model"]) == {"genomic"}
    assert result.run["models_left_out"]["linear_genomic"] == "not in cv.models"


def test_label_matched_results_are_marked_not_evidence(tmp_path):
    matched = Cohort("toy", COHORT.samples, CLASSES, expression=COHORT.expression, pairing="label_matched")
    cfg = config(training={"max_epochs": 1}, cv={"models": ["fusion", "image", "linear_genomic"]})
    result = run_cross_validation(matched, BAGS, cfg, out_dir=tmp_path)
    evidence = result.mcnemar.set_index("model")["evidence"]
    assert evidence["image"] == NOT_EVIDENCE and evidence["linear_genomic"] == NOT_EVIDENCE  # fusion is the reference
    summary = result.summary().set_index("model")["evidence"]
    assert summary["image"] == "yes" and summary["fusion"] == NOT_EVIDENCE
    text = (tmp_path / "summary.md").read_text()
    assert "**Not evidence**: fusion, linear_genomic" in text and "drawn from its own class" in text
    assert set(pd.read_csv(tmp_path / "mcnemar.csv")["evidence"]) == {NOT_EVIDENCE}
    html = build_report(tmp_path, None, tmp_path / "report.html").read_text()
    assert "Not evidence: fusion, linear_genomic and every comparison involving them" in html
    assert html.count(f"<td>{NOT_EVIDENCE}</td>") >= 3  # the metrics table and the McNemar rows


def test_expression_only_config_of_three_lines_runs_cv(tmp_path, cumida_sample, monkeypatch):
    """No backbone key, no images: nothing of the backbone is needed (TORCH_HOME is empty, there is no network)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    probes = pd.read_csv(cumida_sample).drop(columns=["samples", "type"]).mean().iloc[:300]
    sparse_signal_expression(probes, ["ALL", "normal"], 10, n_informative=20, effect=2.0).to_csv(
        tmp_path / "set.csv", index=False
    )
    (tmp_path / "config.yaml").write_text("data:\n  expression:\n    files: [set.csv]\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["cv", str(tmp_path / "config.yaml"), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = (out / "summary.md").read_text()
    assert "**genomic**" in summary.split("\n")[0] and "Models not run: fusion (needs images" in summary
    assert set(pd.read_csv(out / "predictions.csv")["model"]) == {"genomic", "linear_genomic"}
    assert not (tmp_path / "no-weights").exists()


def test_refit_trains_a_fresh_model_on_training_and_validation_samples():
    cfg = config(training={"max_epochs": 3, "refit": True})
    trial = run_trial("image", 0, COHORT, BAGS, cfg)
    fold = make_folds(COHORT, 3, 0.25, cfg.seed)[0]
    tiles = np.concatenate([BAGS[s].features for s in [*fold.train, *fold.val]])
    np.testing.assert_allclose(trial.state_dict["tile_norm.mean"].numpy(), tiles.mean(0), rtol=1e-5, atol=1e-6)
    plain = run_trial("image", 0, COHORT, BAGS, config(training={"max_epochs": 3}))
    assert plain.history == trial.history and plain.best_epoch == trial.best_epoch  # the same early stopping
