"""log2(x + 1) -> per-gene z-score -> PCA, scikit-learn style, and the same map as a frozen torch layer.

The transform is fitted on the training part of a fold only. Because z-score and PCA are linear, the fitted
map folds into one frozen :class:`torch.nn.Linear`-like layer (:class:`GenomicProjection`), so a model can take
per-gene expression as input and gradient explanations reach the genes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn

from leukmodel.errors import ExpressionError

LogTransform = Literal["auto", "always", "never"]

_LN2 = math.log(2.0)


def looks_linear_scale(values: np.ndarray) -> tuple[bool, str]:
    """Whether expression values look linear-scale (to be logged) rather than already log2.

    The rule is GEO2R's: log when the 99th percentile exceeds 100, or when the range exceeds 50 and the
    lower quartile is positive. RMA-normalised microarrays (about 2 to 14) are recognised as log2 already.
    Returns the decision and a sentence that explains it (recorded with every run).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return False, "no finite values"
    q0, q25, q99, q100 = np.quantile(finite, [0.0, 0.25, 0.99, 1.0])
    if q99 > 100:
        return True, f"99th percentile {q99:.4g} > 100: linear scale, log2(x+1) applied"
    if q100 - q0 > 50 and q25 > 0:
        return True, f"range {q0:.4g}..{q100:.4g} wider than 50 with positive lower quartile: log2(x+1) applied"
    return False, f"99th percentile {q99:.4g}, range {q0:.4g}..{q100:.4g}: already log2, no log applied"


class GenomicTransform:
    """log2(x + 1) (``auto | always | never``) -> per-gene z-score -> PCA to ``n_components``.

    The number of components is capped by the training data: at most ``n_samples - 1`` (the rank of a
    centred matrix) and the number of genes.

    Args:
        log_transform: ``always`` logs, ``never`` does not, ``auto`` decides from the training values
            (:func:`looks_linear_scale`) and records the decision in :attr:`log_applied_` and
            :attr:`log_reason_`.
        n_components: the number of principal components asked for.

    Attributes (after :meth:`fit`):
        log_applied_: whether log2(x + 1) is part of the transform.
        log_reason_: why (for ``auto``) or ``"configured"``.
        genes_: the gene/probe ids of the training matrix (``None`` when fitted on a bare array).
        n_components_: the number of components kept.
        gene_mean_, gene_scale_: the z-score statistics of the (logged) training values, per gene.
        components_: (n_components_, n_genes) principal axes of the z-scored training values.
        pca_mean_: (n_genes,) the mean PCA removed (zero up to rounding, since the input is z-scored).
        explained_variance_ratio_: per component.
    """

    def __init__(self, log_transform: LogTransform = "auto", n_components: int = 500) -> None:
        if log_transform not in ("auto", "always", "never"):
            raise ValueError(f"log_transform must be auto, always or never, not {log_transform!r}")
        if n_components < 1:
            raise ValueError(f"n_components must be at least 1, not {n_components}")
        self.log_transform = log_transform
        self.n_components = n_components

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "components_")

    @property
    def n_genes(self) -> int:
        return self.components_.shape[1]

    def fit(self, X: pd.DataFrame | np.ndarray) -> GenomicTransform:
        """Fit on training samples (rows) x genes (columns)."""
        values, rows, genes = _as_matrix(X)
        if values.shape[0] < 2:
            raise ExpressionError(
                f"cannot fit the genomic transform on {values.shape[0]} sample(s)", expected="at least 2"
            )
        _check_finite(values, rows, genes)
        if self.log_transform == "auto":
            self.log_applied_, self.log_reason_ = looks_linear_scale(values)
        else:
            self.log_applied_ = self.log_transform == "always"
            self.log_reason_ = f"configured: log_transform={self.log_transform}"
        self.genes_ = None if genes is None else list(genes)
        values = self._log(values, rows, genes)
        scaler = StandardScaler().fit(values)
        z = scaler.transform(values)
        n_components = max(1, min(self.n_components, values.shape[0] - 1, values.shape[1]))
        # Both solvers are exact; with more samples than genes the genes x genes covariance is the smaller problem
        # (a C-NMC-sized training part, 6,830 x 1,000: 0.4 s instead of 1.2 s).
        solver = "covariance_eigh" if values.shape[0] > values.shape[1] else "full"
        pca = PCA(n_components=n_components, svd_solver=solver).fit(z)
        self.gene_mean_ = scaler.mean_
        self.gene_scale_ = scaler.scale_
        self.pca_mean_ = pca.mean_
        self.components_ = pca.components_
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        self.n_components_ = n_components
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Samples x genes -> samples x ``n_components_`` (float32). A DataFrame is matched to the genes by name."""
        self._check_fitted()
        values, rows, genes = _as_matrix(self._align(X))
        _check_finite(values, rows, genes)
        values = self._log(values, rows, genes)
        z = (values - self.gene_mean_) / self.gene_scale_
        return ((z - self.pca_mean_) @ self.components_.T).astype(np.float32)

    def fit_transform(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def linear_map(self) -> tuple[np.ndarray, np.ndarray]:
        """``(weight, bias)`` with ``transform(x) == weight @ log(x) + bias`` (log only if applied)."""
        self._check_fitted()
        weight = self.components_ / self.gene_scale_[None, :]
        bias = -self.components_ @ (self.gene_mean_ / self.gene_scale_ + self.pca_mean_)
        return weight, bias

    def as_module(self) -> GenomicProjection:
        """The fitted transform as a frozen torch layer taking per-gene expression."""
        weight, bias = self.linear_map()
        return GenomicProjection(
            torch.from_numpy(weight.astype(np.float32)),
            torch.from_numpy(bias.astype(np.float32)),
            log=self.log_applied_,
        )

    def to_state(self) -> dict[str, Any]:
        """Plain tensors, strings and numbers (loadable with ``torch.load(weights_only=True)``)."""
        self._check_fitted()
        return {
            "log_transform": self.log_transform,
            "n_components": self.n_components,
            "log_applied": self.log_applied_,
            "log_reason": self.log_reason_,
            "genes": self.genes_,
            "gene_mean": torch.from_numpy(self.gene_mean_),
            "gene_scale": torch.from_numpy(self.gene_scale_),
            "pca_mean": torch.from_numpy(self.pca_mean_),
            "components": torch.from_numpy(self.components_),
            "explained_variance_ratio": torch.from_numpy(self.explained_variance_ratio_),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GenomicTransform:
        """Rebuild a fitted transform from :meth:`to_state`."""
        transform = cls(state["log_transform"], state["n_components"])
        transform.log_applied_ = bool(state["log_applied"])
        transform.log_reason_ = str(state["log_reason"])
        transform.genes_ = None if state["genes"] is None else list(state["genes"])
        transform.gene_mean_ = state["gene_mean"].numpy()
        transform.gene_scale_ = state["gene_scale"].numpy()
        transform.pca_mean_ = state["pca_mean"].numpy()
        transform.components_ = state["components"].numpy()
        transform.explained_variance_ratio_ = state["explained_variance_ratio"].numpy()
        transform.n_components_ = transform.components_.shape[0]
        return transform

    def _log(self, values: np.ndarray, rows: Sequence[str], genes: Sequence[str] | None) -> np.ndarray:
        if not self.log_applied_:
            return values
        negative = np.argwhere(values < 0)
        if negative.size:
            i, j = negative[0]
            raise ExpressionError(
                f"negative expression value {values[i, j]:.6g} where log2(x+1) is applied "
                f"({len(negative)} negative value(s) in all; {self.log_reason_})",
                row=rows[i],
                field=_gene_name(genes, j),
                expected="non-negative linear-scale values, or genomic.log_transform: never for log-scale data",
            )
        return np.log1p(values) / _LN2

    def _align(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        if isinstance(X, pd.DataFrame) and self.genes_ is not None:
            present = {str(c) for c in X.columns}
            missing = [g for g in self.genes_ if g not in present]
            if missing:
                shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
                raise ExpressionError(
                    f"{len(missing)} gene(s) of the fitted transform are missing: {shown}",
                    field="expression columns",
                    expected=f"the {len(self.genes_)} genes the transform was fitted on",
                )
            return X.set_axis([str(c) for c in X.columns], axis=1)[self.genes_]
        n_genes = np.shape(X)[1]
        if n_genes != self.n_genes:
            raise ExpressionError(
                f"expression has {n_genes} genes, the transform was fitted on {self.n_genes}",
                expected=f"{self.n_genes} columns in the fitted gene order",
            )
        return X

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError("GenomicTransform is not fitted: call fit() on the training samples first")


class GenomicProjection(nn.Module):
    """A fitted :class:`GenomicTransform` as a frozen layer: per-gene expression (..., G) -> (..., k).

    The weight and bias are buffers, not parameters: nothing trains them, and they are left out of the
    model's ``state_dict`` (they travel with the fitted transform, which the trained-model bundle stores).
    """

    def __init__(self, weight: Tensor, bias: Tensor, log: bool) -> None:
        super().__init__()
        self.log = log
        self.register_buffer("weight", weight, persistent=False)
        self.register_buffer("bias", bias, persistent=False)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, expression: Tensor) -> Tensor:
        if self.log:
            expression = torch.log1p(expression) / _LN2
        return nn.functional.linear(expression, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, log2={self.log}, frozen"


def _as_matrix(X: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, list[str], list[str] | None]:
    """Float64 values, row names (1-based numbers for arrays) and gene names (``None`` for arrays)."""
    if isinstance(X, pd.DataFrame):
        try:
            values = X.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"expression is not numeric: {exc}", expected="numbers only") from None
        return values, [str(i) for i in X.index], [str(c) for c in X.columns]
    values = np.asarray(X, dtype=np.float64)
    if values.ndim != 2:
        raise ExpressionError(f"expression has shape {values.shape}", expected="a samples x genes matrix")
    return values, [str(i + 1) for i in range(values.shape[0])], None


def _check_finite(values: np.ndarray, rows: Sequence[str], genes: Sequence[str] | None) -> None:
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        i, j = bad[0]
        raise ExpressionError(
            f"expression value {values[i, j]} is not finite ({len(bad)} NaN/inf value(s) in all)",
            row=rows[i],
            field=_gene_name(genes, j),
            expected="finite numbers (impute or drop missing values before leukmodel)",
        )


def _gene_name(genes: Sequence[str] | None, j: int) -> str:
    return genes[j] if genes is not None else f"gene column {j + 1}"
