"""The genomic transform: log choice, named errors, PCA cap, and its frozen-layer form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from leukmodel.errors import ExpressionError
from leukmodel.genomics import GenomicTransform


def counts(n: int = 20, genes: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.negative_binomial(5, 0.005, size=(n, genes)).astype(np.float64)
    return pd.DataFrame(values, index=[f"s{i}" for i in range(n)], columns=[f"g{j}" for j in range(genes)])


def log2_values(n: int = 20, genes: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.uniform(2, 14, size=(n, genes))
    return pd.DataFrame(values, index=[f"s{i}" for i in range(n)], columns=[f"g{j}" for j in range(genes)])


def test_auto_logs_linear_counts_and_records_why():
    transform = GenomicTransform("auto", 5).fit(counts())
    assert transform.log_applied_
    assert "log2(x+1) applied" in transform.log_reason_


def test_auto_recognises_rma_log2_values():
    transform = GenomicTransform("auto", 5).fit(log2_values())
    assert not transform.log_applied_
    assert "already log2" in transform.log_reason_


def test_auto_does_not_log_real_cumida_rows(cumida_sample):
    frame = pd.read_csv(cumida_sample).drop(columns=["samples", "type"])
    transform = GenomicTransform("auto", 500).fit(frame)
    assert not transform.log_applied_
    assert transform.n_components_ == len(frame) - 1


def test_configured_choice_is_recorded():
    assert GenomicTransform("always", 3).fit(log2_values()).log_applied_
    never = GenomicTransform("never", 3).fit(counts())
    assert not never.log_applied_ and never.log_reason_ == "configured: log_transform=never"


def test_negative_value_where_log_is_asked_names_row_and_gene():
    frame = counts()
    frame.loc["s3", "g7"] = -1.0
    with pytest.raises(ExpressionError) as err:
        GenomicTransform("always", 3).fit(frame)
    assert err.value.row == "s3" and err.value.field == "g7"
    assert "negative" in str(err.value)


def test_negative_values_are_fine_without_log():
    frame = log2_values() - 8.0
    transform = GenomicTransform("auto", 3).fit(frame)
    assert not transform.log_applied_
    assert transform.transform(frame).shape == (20, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("mode", ["auto", "always", "never"])
def test_nan_or_inf_is_a_named_error(bad, mode):
    frame = counts()
    frame.loc["s5", "g2"] = bad
    with pytest.raises(ExpressionError) as err:
        GenomicTransform(mode, 3).fit(frame)
    assert err.value.row == "s5" and err.value.field == "g2"


def test_negative_value_at_transform_time_is_a_named_error():
    transform = GenomicTransform("always", 3).fit(counts())
    new = counts(seed=1)
    new.loc["s0", "g1"] = -3.0
    with pytest.raises(ExpressionError, match="negative"):
        transform.transform(new)


def test_components_capped_by_training_samples():
    transform = GenomicTransform("auto", 500).fit(counts(n=12, genes=40))
    assert transform.n_components_ == 11
    assert transform.transform(counts(n=3, genes=40, seed=2)).shape == (3, 11)
    assert GenomicTransform("auto", 500).fit(counts(n=60, genes=8)).n_components_ == 8


def test_matches_scikit_learn_scaler_and_pca():
    train, test = counts(seed=0), counts(seed=1)
    transform = GenomicTransform("always", 6).fit(train)
    scaler = StandardScaler().fit(np.log2(train.to_numpy() + 1))
    pca = PCA(6, svd_solver="full").fit(scaler.transform(np.log2(train.to_numpy() + 1)))
    expected = pca.transform(scaler.transform(np.log2(test.to_numpy() + 1)))
    np.testing.assert_allclose(transform.transform(test), expected, rtol=1e-4, atol=1e-4)


def test_more_samples_than_genes_gives_the_full_svd_components():
    train, test = counts(n=300, genes=40, seed=0), counts(n=5, genes=40, seed=1)
    transform = GenomicTransform("always", 10).fit(train)
    scaler = StandardScaler().fit(np.log2(train.to_numpy() + 1))
    pca = PCA(10, svd_solver="full").fit(scaler.transform(np.log2(train.to_numpy() + 1)))
    expected = pca.transform(scaler.transform(np.log2(test.to_numpy() + 1)))
    np.testing.assert_allclose(transform.transform(test), expected, rtol=1e-4, atol=1e-4)


def test_dataframe_columns_are_aligned_by_gene_and_missing_genes_named():
    train = counts()
    transform = GenomicTransform("auto", 4).fit(train)
    shuffled = train[train.columns[::-1]]
    np.testing.assert_allclose(transform.transform(shuffled), transform.transform(train), rtol=1e-6)
    with pytest.raises(ExpressionError, match="g3"):
        transform.transform(train.drop(columns=["g3"]))


def test_frozen_module_equals_transform_and_gradients_reach_genes():
    train, test = counts(seed=0), counts(n=4, seed=1)
    transform = GenomicTransform("auto", 7).fit(train)
    layer = transform.as_module()
    assert not list(layer.parameters()) and layer.state_dict() == {}
    x = torch.tensor(test.to_numpy(), dtype=torch.float32, requires_grad=True)
    out = layer(x)
    np.testing.assert_allclose(out.detach().numpy(), transform.transform(test), rtol=1e-3, atol=1e-3)
    out[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_state_round_trip_through_torch_save(tmp_path):
    transform = GenomicTransform("auto", 5).fit(counts())
    torch.save(transform.to_state(), tmp_path / "t.pt")
    loaded = GenomicTransform.from_state(torch.load(tmp_path / "t.pt", weights_only=True))
    assert loaded.log_applied_ == transform.log_applied_ and loaded.genes_ == transform.genes_
    np.testing.assert_array_equal(loaded.transform(counts(seed=3)), transform.transform(counts(seed=3)))


def test_unfitted_transform_refuses():
    with pytest.raises(RuntimeError, match="not fitted"):
        GenomicTransform().transform(counts())
