"""Metrics with bootstrap intervals, and McNemar's test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from leukmodel.evaluation import classification_metrics, markdown_table, mcnemar_table, mcnemar_test

CLASSES = ["ALL", "AML", "CLL"]


def one_hot(labels, n=3, confidence=0.8):
    prob = np.full((len(labels), n), (1 - confidence) / (n - 1))
    prob[np.arange(len(labels)), labels] = confidence
    return prob


def test_perfect_predictions():
    y = np.array([0, 1, 2] * 10)
    result = classification_metrics(y, one_hot(y), CLASSES, n_bootstrap=50, seed=0)
    for metric in ("accuracy", "macro_f1", "macro_auc", "f1[AML]", "auc[CLL]"):
        assert result.values[metric] == 1.0
        assert result.ci_low[metric] == 1.0 and result.ci_high[metric] == 1.0
    assert np.array_equal(result.confusion.to_numpy(), np.diag([10, 10, 10]))


def test_values_match_scikit_learn_and_intervals_contain_them():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    prob = rng.dirichlet(np.ones(3), 90)
    prob[np.arange(90), y] += 0.4
    prob /= prob.sum(1, keepdims=True)
    result = classification_metrics(y, prob, CLASSES, n_bootstrap=200, seed=1)
    from sklearn.metrics import f1_score, roc_auc_score

    assert result.values["macro_f1"] == pytest.approx(f1_score(y, prob.argmax(1), average="macro"))
    assert result.values["macro_auc"] == pytest.approx(roc_auc_score(y, prob, multi_class="ovr", average="macro"))
    for metric, value in result.values.items():
        assert result.ci_low[metric] <= value <= result.ci_high[metric], metric
    again = classification_metrics(y, prob, CLASSES, n_bootstrap=200, seed=1)
    assert again.ci_low == result.ci_low
    table = result.table()
    assert list(table.columns) == ["metric", "value", "ci_low", "ci_high"] and len(table) == 3 + 2 * 3


def test_absent_class_gives_nan_not_zero():
    y = np.array([0, 1, 0, 1, 0, 1])
    result = classification_metrics(y, one_hot(y), CLASSES, n_bootstrap=0)
    assert np.isnan(result.values["auc[CLL]"]) and np.isnan(result.values["f1[CLL]"])
    assert result.values["macro_f1"] == 1.0 and result.values["macro_auc"] == 1.0
    assert np.isnan(result.ci_low["accuracy"])


def test_mcnemar_without_discordant_pairs_is_p_one():
    correct = np.array([True] * 8 + [False] * 2)
    result = mcnemar_test(correct, correct)
    assert result.p_value == 1.0 and result.method == "exact binomial"


def test_mcnemar_exact_for_few_discordant_pairs():
    a = np.array([True] * 30)
    b = np.array([False] * 10 + [True] * 20)
    result = mcnemar_test(a, b)
    assert (result.a_only, result.b_only, result.both_correct, result.both_wrong) == (10, 0, 20, 0)
    assert result.method == "exact binomial"
    assert result.p_value == pytest.approx(binomtest(0, 10, 0.5).pvalue)


def test_mcnemar_chi_square_for_many_discordant_pairs():
    a = np.array([True] * 40 + [False] * 10 + [True] * 50)
    b = np.array([False] * 40 + [True] * 10 + [True] * 50)
    result = mcnemar_test(a, b)
    assert result.method.startswith("chi-square")
    assert result.statistic == pytest.approx((abs(40 - 10) - 1) ** 2 / 50)
    assert 0 < result.p_value < 0.001


def test_mcnemar_table_pairs_models_on_the_same_samples():
    rows = []
    for model, right in (("fusion", 10), ("image", 5), ("genomic", 6)):
        for i in range(10):
            rows.append({"model": model, "sample_id": f"s{i}", "y_true": "A", "y_pred": "A" if i < right else "B"})
    table = mcnemar_table(pd.DataFrame(rows).sample(frac=1, random_state=0), reference="fusion")
    assert set(table["model"]) == {"image", "genomic"}
    image = table.set_index("model").loc["image"]
    assert (image["n"], image["a_only"], image["b_only"]) == (10, 5, 0)
    assert image["reference_accuracy"] == 1.0 and image["model_accuracy"] == 0.5


def test_markdown_table():
    text = markdown_table(pd.DataFrame({"a": ["x"], "b": [0.12345], "c": [1e-6]}))
    assert text.splitlines() == ["| a | b | c |", "|---|---|---|", "| x | 0.123 | 1.00e-06 |"]
