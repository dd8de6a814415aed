"""Explanations of a few samples per class of a cross-validation, each by the fold model that tested it.

Files written into ``out_dir`` (see docs/explain.md)::

    index.json                 the explained samples in order: sample_id, folder, class, why it was picked
    <sample folder>/           one :func:`~leukmodel.explain.explain_sample` folder per sample
    top_genes_per_class.csv    class, rank, probe, symbol, shap (mean over the class's explained samples)
    top_genes_per_class.png    the same as bars, one panel per class
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import torch

from leukmodel.config import Config
from leukmodel.data.cohort import Cohort
from leukmodel.explain.artifacts import PREDICTIONS, out_of_fold, read_table
from leukmodel.explain.figures import class_gene_panels, save_figure
from leukmodel.explain.sample import SampleExplanation, explain_sample, load_explanation_backbone
from leukmodel.features.bags import Bag
from leukmodel.models.registry import uses_images
from leukmodel.owned import owned_folder
from leukmodel.training.bundle import ModelBundle
from leukmodel.training.plan import resolve_models

INDEX = "index.json"
CLASS_GENES = "top_genes_per_class.csv"
CLASS_GENES_FIGURE = "top_genes_per_class.png"


def sample_folder(sample_id: str) -> str:
    """The folder name of a sample's explanation: its id, percent-encoded where not a file-name character."""
    return quote(sample_id, safe="")


def pick_samples(
    predictions: pd.DataFrame, model: str, classes: Sequence[str], per_class: int, eligible: set[str] | None = None
) -> list[tuple[str, str]]:
    """Which samples to explain, and why: ``per_class`` of each true class, from ``model``'s out-of-fold predictions.

    The rule: within a class, samples are ranked by their out-of-fold probability of the true class (ties by
    sample id). The most confidently right ones are taken first; when the class has misclassified samples and
    ``per_class`` is at least 2, the last place goes to the most confidently misclassified one, so the report
    shows how the model fails as well as how it succeeds. Only ``eligible`` samples are considered (all when
    ``None``). Returns ``(sample_id, reason)`` pairs, class by class.
    """
    frame = predictions[predictions["model"] == model]
    if eligible is not None:
        frame = frame[frame["sample_id"].isin(eligible)]
    picked: list[tuple[str, str]] = []
    for name in classes:
        rows = frame[frame["y_true"] == name].copy()
        rows["p_true"] = rows[f"prob_{name}"]
        right = rows[rows["y_pred"] == name].sort_values(["p_true", "sample_id"], ascending=[False, True])
        wrong = rows[rows["y_pred"] != name].copy()
        wrong["p_pred"] = [row[f"prob_{row['y_pred']}"] for _, row in wrong.iterrows()]
        wrong = wrong.sort_values(["p_pred", "sample_id"], ascending=[False, True])
        n_wrong = min(len(wrong), 1 if per_class >= 2 else 0)
        n_right = min(len(right), per_class - n_wrong)
        n_wrong = min(len(wrong), per_class - n_right)
        for _, row in right.head(n_right).iterrows():
            picked.append((row["sample_id"], f"{name}: right, p({name}) = {row['p_true']:.2f}"))
        for _, row in wrong.head(n_wrong).iterrows():
            picked.append((row["sample_id"], f"{name}: predicted {row['y_pred']} (p = {row['p_pred']:.2f})"))
    return picked


def explain_cv(
    cv_dir: str | PathLike[str],
    cohort: Cohort,
    bags: Mapping[str, Bag],
    config: Config,
    out_dir: str | PathLike[str],
    per_class: int | None = None,
    *,
    model: str | None = None,
    backbone_sha256: str | None = None,
    device: str | torch.device | None = None,
) -> list[SampleExplanation]:
    """Explain ``per_class`` samples of every class (default ``explain.samples_per_class``) out of fold.

    Samples are picked by :func:`pick_samples` from ``predictions.csv`` of ``model`` (default ``cv.reference``);
    each is explained by ``models/<model>-fold<k>.pt`` of the fold that tested it. ``backbone_sha256``, when
    given, must match the rebuilt backbone's weights.

    Raises:
        ArtifactError: ``cv_dir`` lacks the predictions, folds or fold models.
    """
    cv_dir, out = Path(cv_dir), Path(out_dir)
    owned = owned_folder(out, "the explanations")
    model = model or resolve_models(config, cohort).cv.reference
    per_class = config.explain.samples_per_class if per_class is None else per_class
    predictions = read_table(cv_dir, PREDICTIONS)
    eligible = set(bags) if uses_images(model) else None
    picks = pick_samples(predictions, model, cohort.classes, per_class, eligible)
    backbone = load_explanation_backbone(config, backbone_sha256) if uses_images(model) else None
    bundles: dict[int, ModelBundle] = {}
    explanations, index = [], []
    for sample_id, reason in picks:
        where = out_of_fold(cv_dir, sample_id, model)
        if where.fold not in bundles:
            bundles[where.fold] = where.load_bundle()
        folder = sample_folder(sample_id)
        explanation = explain_sample(
            sample_id, cohort, bags, config, bundles[where.fold], out / folder, backbone=backbone, device=device
        )
        explanations.append(explanation)
        index.append({"sample_id": sample_id, "folder": folder, "class": where.label, "reason": reason})
    out.mkdir(parents=True, exist_ok=True)
    record = {"model": model, "per_class": per_class, "samples": index}
    genes = class_top_genes(explanations, config.explain.top_genes, cohort.gene_symbols)
    if not genes.empty:
        genes.to_csv(out / CLASS_GENES, index=False)
        title = "Top genes per class (mean SHAP over the explained samples of the class)"
        figure = class_gene_panels(genes, title=title)
        save_figure(figure, out / CLASS_GENES_FIGURE)
        record["class_genes"] = {"table": CLASS_GENES, "figure": CLASS_GENES_FIGURE}
    (out / INDEX).write_text(json.dumps(record, indent=2))
    owned.adopt_all()
    return explanations


def class_top_genes(
    explanations: Sequence[SampleExplanation], k: int, symbols: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Per class, the ``k`` genes with the largest mean |SHAP| for that class's logit over its explained samples.

    Returns ``class, rank, probe, symbol, shap`` (``shap`` is the signed mean; a probe without a symbol in
    ``symbols`` keeps its id); empty without attributions.
    """
    symbols = symbols or {}
    rows = []
    by_class: dict[str, list[pd.Series]] = {}
    for explanation in explanations:
        if explanation.attributions is not None:
            by_class.setdefault(explanation.label, []).append(explanation.attributions[explanation.label])
    for name, columns in by_class.items():
        values = pd.concat(columns, axis=1)
        strength = values.abs().mean(axis=1).sort_values(ascending=False)
        for rank, probe in enumerate(strength.index[:k], 1):
            rows.append(
                {
                    "class": name,
                    "rank": rank,
                    "probe": probe,
                    "symbol": symbols.get(probe, probe),
                    "shap": float(values.loc[probe].mean()),
                }
            )
    return pd.DataFrame(rows, columns=["class", "rank", "probe", "symbol", "shap"])
