"""SHAP attributions of a sample's class scores to its genes (probes), through the frozen genomic transform.

The models take raw per-gene expression: the fold's fitted log2 / z-score / PCA map is a frozen layer in front
of the genomic encoder (:meth:`~leukmodel.genomics.GenomicTransform.as_module`), so gradients reach every probe.
shap's :class:`~shap.GradientExplainer` (expected gradients) explains the genomic path of one sample: per-gene
expression -> transform -> encoder -> (cross-attention with the sample's own tiles, held fixed) -> class logits.
The background is a set of expression profiles from the TRAINING part of the model's fold, so nothing of the
test fold enters the explanation. DeepExplainer is not used: its rules do not cover attention's softmax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import shap
import torch
from torch import Tensor, nn

from leukmodel.models.fusion import BagClassifier

GENE_COLUMNS = ["class", "rank", "probe", "symbol", "shap", "expression", "vs_background"]


class ExpressionToLogits(nn.Module):
    """Per-gene expression ``(B, G)`` -> class logits ``(B, C)`` of one bag, its tile features held fixed.

    The models take one bag at a time; ``torch.func.vmap`` maps the batch of profiles through one call (about
    ten times faster than a loop once gradients are needed, which is what expected gradients take).
    """

    def __init__(self, model: BagClassifier, features: Tensor | None):
        super().__init__()
        self.model = model
        self.register_buffer("features", features, persistent=False)

    def forward(self, expression: Tensor) -> Tensor:
        return torch.func.vmap(lambda row: self.model(self.features, row).logits)(expression)


def gene_attributions(
    model: BagClassifier,
    features: Tensor | None,
    expression: Tensor,
    background: Tensor,
    genes: Sequence[str],
    classes: Sequence[str],
    *,
    n_samples: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """SHAP values of every gene for every class logit of one sample.

    Args:
        model: a trained model that reads expression (fusion or genomic-only), in eval mode.
        features: the sample's tile features (fusion), or ``None`` (genomic-only).
        expression: ``(G,)`` the sample's raw per-gene expression.
        background: ``(B, G)`` raw expression profiles of training samples of the model's fold.
        genes: the G probe ids, in the model's input order.
        classes: the class names, in the model's output order.
        n_samples: expected-gradients samples (interpolation points) per class.
        seed: shap's random seed.

    Returns:
        ``genes x classes`` frame of SHAP values (log-odds units); a row sums, over genes, to about the
        sample's logit minus the background's mean logit.
    """
    model.eval()
    explainer = shap.GradientExplainer(ExpressionToLogits(model, features), background)
    values = explainer.shap_values(expression.unsqueeze(0), nsamples=n_samples, rseed=seed)
    return pd.DataFrame(np.asarray(values)[0], index=list(genes), columns=list(classes))


def top_genes(
    attributions: pd.DataFrame,
    expression: Mapping[str, float] | pd.Series,
    background_mean: Mapping[str, float] | pd.Series,
    symbols: Mapping[str, str],
    k: int,
) -> pd.DataFrame:
    """The ``k`` genes with the largest absolute SHAP value for each class.

    Returns columns ``class, rank, probe, symbol, shap, expression, vs_background`` (rank 1 is the largest
    ``|shap|``; ``vs_background`` is the sample's value minus the background's mean, so a reader sees whether a
    gene counts because it is high or because it is low). A probe without a symbol keeps its id as its symbol.
    """
    rows = []
    for name in attributions.columns:
        column = attributions[name]
        for rank, probe in enumerate(column.abs().sort_values(ascending=False).index[:k], 1):
            rows.append(
                {
                    "class": name,
                    "rank": rank,
                    "probe": probe,
                    "symbol": symbols.get(probe, probe),
                    "shap": float(column[probe]),
                    "expression": float(expression[probe]),
                    "vs_background": float(expression[probe] - background_mean[probe]),
                }
            )
    return pd.DataFrame(rows, columns=GENE_COLUMNS)
