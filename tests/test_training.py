"""Training one (model, fold), leakage by construction, determinism, cross-validation output and bundles."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch

from leukmodel.config import config_from_dict
from leukmodel.data.cohort import Cohort, Sample
from leukmodel.device import resolve_device
from leukmodel.errors import CohortError, ConfigError
from leukmodel.models import MODELS
from leukmodel.training import (
    EarlyStopping,
    ModelBundle,
    make_folds,
    predict,
    prepare_items,
    run_cross_validation,
    run_trial,
    train_final,
)
from leukmodel.training.plan import plan_models

CLASSES = ("ALL", "AML", "CLL")
FIVE_MODELS = ("fusion", "image", "genomic", "linear_image", "linear_genomic")
"""The models of the cross-validation tests (without late_fusion, which tests/test_models.py covers)."""
GENES = 30
DIM = 16


@dataclass
class Bag:
    features: np.ndarray


def toy(patients: int = 6, seed: int = 0) -> tuple[Cohort, dict[str, Bag]]:
    """Three classes, one sample per patient, class signal in both the tile features and the expression."""
    rng = np.random.default_rng(seed)
    samples, rows, bags = [], {}, {}
    for k, label in enumerate(CLASSES):
        for p in range(patients):
            sid = f"{label}-{p}"
            samples.append(Sample(sid, f"patient-{sid}", label, expression_id=f"x-{sid}"))
            expression = rng.negative_binomial(5, 0.01, GENES).astype(np.float32)
            expression[k * 5 : k * 5 + 5] *= 4
            rows[f"x-{sid}"] = expression
            features = rng.normal(size=(int(rng.integers(3, 12)), DIM)).astype(np.float32)
            features[:, k] += 2.0
            bags[sid] = Bag(features)
    expression = pd.DataFrame.from_dict(rows, orient="index", columns=[f"g{j}" for j in range(GENES)])
    return Cohort("toy", samples, CLASSES, expression=expression.astype(np.float32), pairing="paired"), bags


def config(**overrides):
    values = {
        "seed": 1,
        "data": {"expression": {"files": ["unused.csv"]}},
        "genomic": {"n_components": 8},
        "model": {
            "genomic_hidden": [16, 16],
            "genomic_dim": 8,
            "attention_heads": 2,
            "attention_head_dim": 8,
            "mil_attention_dim": 16,
            "mil_hidden": 16,
        },
        "training": {"max_epochs": 3, "patience": 2, "lr": 1e-3, "device": "cpu", "num_threads": 1},
        "cv": {"n_folds": 3, "val_fraction": 0.25, "bootstrap": 20},
    }
    for section, changes in overrides.items():
        values[section] = {**values.get(section, {}), **changes}
    return config_from_dict(values)


COHORT, BAGS = toy()


def test_run_trial_predicts_exactly_the_test_fold():
    cfg = config()
    trial = run_trial("fusion", 1, COHORT, BAGS, cfg)
    fold = make_folds(COHORT, 3, 0.25, cfg.seed)[1]
    assert list(trial.predictions["sample_id"]) == list(fold.test)
    assert list(trial.predictions.columns) == [
        "sample_id", "patient_id", "fold", "model", "y_true", "y_pred", "prob_ALL", "prob_AML", "prob_CLL",
    ]  # fmt: skip
    probs = trial.predictions[["prob_ALL", "prob_AML", "prob_CLL"]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert 1 <= len(trial.history) <= 3 and 0 <= trial.best_epoch < len(trial.history)
    assert {"train_loss", "val_loss", "val_auc", "val_accuracy"} <= set(trial.history[0])
    assert trial.inference_seconds_per_slide > 0
    assert trial.genomic_transform.n_components_ == 8
    restored = pickle.loads(pickle.dumps(trial))
    assert restored.predictions.equals(trial.predictions)


def test_on_epoch_receives_every_record():
    seen = []
    trial = run_trial("genomic", 0, COHORT, BAGS, config(), on_epoch=lambda e, r: seen.append((e, r["val_auc"])))
    assert [e for e, _ in seen] == list(range(len(trial.history)))


def test_nothing_is_fitted_on_the_test_fold():
    """Poison the test fold (expression x 1000, tile features + 100): the genomic transform, the tile
    standardisation, the weights and the validation history must not move; only the test predictions may."""
    cfg = config()
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"standardize_genomic": True})})
    fold = make_folds(COHORT, 3, 0.25, cfg.seed)[0]
    poisoned_expression = COHORT.expression.copy()
    test_rows = [s.expression_id for s in COHORT.samples if s.sample_id in fold.test]
    poisoned_expression.loc[test_rows] *= 1000.0
    poisoned = Cohort("toy", COHORT.samples, CLASSES, expression=poisoned_expression, pairing="paired")
    poisoned_bags = {sid: Bag(bag.features + (100.0 if sid in fold.test else 0.0)) for sid, bag in BAGS.items()}
    for model in ("fusion", "genomic", "image"):
        clean = run_trial(model, 0, COHORT, BAGS, cfg)
        dirty = run_trial(model, 0, poisoned, poisoned_bags, cfg)
        if clean.genomic_transform is not None:
            for name in ("gene_mean_", "gene_scale_", "components_"):
                np.testing.assert_array_equal(
                    getattr(clean.genomic_transform, name), getattr(dirty.genomic_transform, name)
                )
            assert clean.genomic_transform.log_applied_ == dirty.genomic_transform.log_applied_
            # the components' standardisation: fitted on the training part only (and its validation samples when
            # the model is refitted on both, as the genomic-only model is by default); never on the test fold
            fitted_on = [*fold.train, *fold.val] if model == "genomic" else fold.train
            train_rows = COHORT.expression.loc[[f"x-{sid}" for sid in fitted_on]]
            projected = dirty.genomic_transform.transform(train_rows)
            np.testing.assert_allclose(dirty.state_dict["genomic_norm.mean"].numpy(), projected.mean(0), atol=1e-4)
        if model != "genomic":
            train_tiles = np.concatenate([BAGS[sid].features for sid in fold.train])
            np.testing.assert_allclose(
                dirty.state_dict["tile_norm.mean"].numpy(), train_tiles.mean(0), rtol=1e-5, atol=1e-6
            )
        assert clean.history == dirty.history
        assert clean.best_epoch == dirty.best_epoch
        for key, value in clean.state_dict.items():
            torch.testing.assert_close(value, dirty.state_dict[key], rtol=0, atol=0)
        assert not np.allclose(
            clean.predictions.filter(like="prob_").to_numpy(), dirty.predictions.filter(like="prob_").to_numpy()
        ), "the poison must reach the test fold"


def test_same_config_gives_the_same_results_on_cpu():
    a = run_trial("fusion", 2, COHORT, BAGS, config())
    b = run_trial("fusion", 2, COHORT, BAGS, config())
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    assert a.history == b.history and a.seed == b.seed


def test_early_stopping_restores_the_best_weights():
    cfg = config(training={"max_epochs": 40, "patience": 2})
    trial = run_trial("image", 0, COHORT, BAGS, cfg)
    assert len(trial.history) <= trial.best_epoch + 1 + 2
    best = trial.history[trial.best_epoch]
    assert all(r["val_auc"] <= best["val_auc"] + 2 * cfg.training.auc_tolerance + 1e-9 for r in trial.history)
    model = ModelBundle.from_trial(trial, COHORT, cfg).build()
    fold = make_folds(COHORT, 3, 0.25, cfg.seed)[0]
    val = prepare_items(COHORT, BAGS, fold.val, "image")
    prob, _ = predict(model, val, torch.device("cpu"))
    labels = np.array([item.label for item in val])
    val_loss = -np.mean(np.log(prob[np.arange(len(val)), labels]))
    assert val_loss == pytest.approx(best["val_loss"], rel=1e-5)


def test_the_default_models_of_a_paired_cohort_are_every_registered_model():
    plan = plan_models(config(), COHORT)
    assert plan.models == tuple(MODELS) and plan.reference == "fusion" and not plan.left_out
    assert "late_fusion" in plan.models


def test_cross_validation_writes_its_output_folder(tmp_path):
    cfg = config(training={"max_epochs": 2}, cv={"models": [*FIVE_MODELS]})
    result = run_cross_validation(COHORT, BAGS, cfg, out_dir=tmp_path)
    n = len(COHORT)
    assert len(result.predictions) == 5 * n  # the deep models and both linear references
    assert result.predictions.groupby("model")["sample_id"].nunique().eq(n).all()
    pairs = set(zip(result.mcnemar["reference"], result.mcnemar["model"], strict=True))
    assert pairs == {
        ("fusion", "image"),
        ("fusion", "genomic"),
        ("fusion", "linear_image"),
        ("fusion", "linear_genomic"),
    }
    linear = set(zip(result.linear_mcnemar["reference"], result.linear_mcnemar["model"], strict=True))
    assert linear == {("image", "linear_image"), ("genomic", "linear_genomic")}
    assert set(result.metrics["scope"]) == {"oof", "fold"}
    assert len(result.trials) == 15 and len(result.bundles) == 15
    for name in ("predictions", "metrics", "confusion", "mcnemar", "trials", "history", "folds"):
        assert not pd.read_csv(tmp_path / f"{name}.csv").empty, name
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["seed"] == 1 and run["tags"] == COHORT.tags() and run["config"]["cv"]["n_folds"] == 3
    summary = (tmp_path / "summary.md").read_text()
    assert "### McNemar" in summary and "fusion" in summary
    assert not list(tmp_path.glob("**/*.partial"))

    bundle = ModelBundle.load(tmp_path / "models" / "fusion-fold1.pt")
    model = bundle.build()
    oof = result.predictions[(result.predictions["model"] == "fusion") & (result.predictions["fold"] == 1)]
    sid = oof["sample_id"].iloc[0]
    expression = torch.tensor(COHORT.expression.loc[f"x-{sid}", bundle.genes].to_numpy())
    with torch.inference_mode():
        prob = model(torch.from_numpy(BAGS[sid].features), expression).logits.softmax(-1).numpy()
    np.testing.assert_allclose(prob, oof.filter(like="prob_").iloc[0].to_numpy(dtype=np.float32), rtol=1e-5)


def test_cross_validation_accepts_a_trial_runner():
    calls = []

    def runner(specs, cohort, bags, cfg):
        calls.extend(specs)
        return [run_trial(s.model_name, s.fold_index, cohort, bags, cfg) for s in reversed(specs)]

    cfg = config(cv={"models": ["genomic"], "save_models": False}, training={"max_epochs": 1})
    result = run_cross_validation(COHORT, BAGS, cfg, trial_runner=runner)
    assert [(s.model_name, s.fold_index) for s in calls] == [("genomic", 0), ("genomic", 1), ("genomic", 2)]
    assert list(result.trials["fold"]) == [0, 1, 2] and result.mcnemar.empty and not result.bundles


@pytest.mark.parametrize("tile_dim", [None, 8], ids=["tiles-as-they-are", "tiles-projected"])
def test_train_final_bundle_round_trip(tmp_path, tile_dim):
    cfg = config(model={"tile_dim": tile_dim})
    bundle = train_final("fusion", COHORT, BAGS, cfg)
    assert bundle.fold is None and bundle.genes == COHORT.genes and bundle.tags == COHORT.tags()
    loaded = ModelBundle.load(bundle.save(tmp_path / "final.pt"))
    assert loaded.classes == CLASSES and loaded.feature_dim == DIM
    a, b = bundle.build(), loaded.build()
    features, expression = torch.randn(5, DIM), torch.rand(GENES) * 100
    with torch.inference_mode():
        torch.testing.assert_close(a(features, expression).logits, b(features, expression).logits)
    assert any(k.startswith("tile_projection.") for k in loaded.state_dict) == (tile_dim is not None)


def test_model_needing_a_missing_modality_is_a_named_error():
    image_only = Cohort("toy", COHORT.samples, CLASSES, pairing="image_only")
    with pytest.raises(ConfigError) as err:
        run_cross_validation(image_only, BAGS, config(cv={"models": ["image", "fusion"]}))
    assert err.value.field == "cv.models" and "image, linear_image" in str(err.value)


def test_missing_bag_is_a_named_error():
    bags = dict(BAGS)
    del bags["AML-3"]
    with pytest.raises(CohortError) as err:
        run_trial("image", 0, COHORT, bags, config(training={"max_epochs": 1}))
    assert "sample 'AML-3' has no feature bag" in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda_is_a_named_error():
    with pytest.raises(ConfigError) as err:
        resolve_device("cuda", field="training.device")
    assert err.value.field == "training.device"
    assert resolve_device("auto").type == "cpu"


def test_finetune_layer4_trains_from_layer3_maps():
    rng = np.random.default_rng(0)
    maps = {sid: Bag(rng.normal(size=(3, 256, 2, 2)).astype(np.float16)) for sid in BAGS}
    cfg = config(
        training={"max_epochs": 1, "finetune_layer4": True},
        backbone={"arch": "resnet18", "weights": "none"},
        cv={"models": ["image"]},
    )
    trial = run_trial("image", 0, COHORT, maps, cfg)
    assert trial.feature_dim == 512
    assert any(k.startswith("tile_encoder.layer4.") for k in trial.state_dict)
    model = ModelBundle.from_trial(trial, COHORT, cfg).build()
    with torch.inference_mode():
        assert model(torch.from_numpy(maps["ALL-0"].features), None).logits.shape == (3,)
    with pytest.raises(ConfigError, match="layer3"):
        run_trial("image", 0, COHORT, BAGS, cfg)


def test_early_stopping_prefers_auc_and_breaks_near_ties_by_loss():
    stopping = EarlyStopping(patience=2, auc_tolerance=0.05)
    assert stopping.step(0, 0.80, 1.0)
    assert stopping.step(1, 0.90, 1.2), "a clearly higher AUC wins even with a higher loss"
    assert stopping.step(2, 0.87, 0.6), "within the tolerance, the lower loss wins"
    assert not stopping.step(3, 0.80, 0.1), "a clearly lower AUC never wins"
    assert not stopping.should_stop
    assert not stopping.step(4, 0.88, 0.7)
    assert stopping.should_stop and stopping.best_epoch == 2
    exact = EarlyStopping(patience=1, auc_tolerance=0.0)
    assert exact.step(0, 1.0, 0.5) and exact.step(1, 1.0, 0.4) and not exact.step(2, 0.99, 0.1)
    small_gains = EarlyStopping(patience=1, auc_tolerance=0.0, loss_min_delta=0.01)
    assert small_gains.step(0, 1.0, 0.05) and not small_gains.step(1, 1.0, 0.045) and small_gains.should_stop
    single_class = EarlyStopping(patience=1, auc_tolerance=0.0)
    assert single_class.step(0, float("nan"), 0.5) and single_class.step(1, float("nan"), 0.4)


def test_tile_features_can_be_used_as_they_are():
    cfg = config(model={"standardize_tiles": False}, training={"max_epochs": 1})
    trial = run_trial("fusion", 0, COHORT, BAGS, cfg)
    assert not any(k.startswith("tile_norm.") for k in trial.state_dict)
    assert ModelBundle.from_trial(trial, COHORT, cfg).build().tile_norm.__class__ is torch.nn.Identity
