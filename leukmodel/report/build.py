"""The self-contained HTML report of one cross-validation: results, provenance flags and explanations.

One file, no scripts and no external resources: every figure is a PNG embedded as a data URI, so the report
opens anywhere (a browser without network, an MLflow artifact view, an e-mail attachment).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from leukmodel.evaluation.evidence import LABEL_MATCHED_REASON
from leukmodel.evaluation.figures import confusion_figure, roc_figure
from leukmodel.explain.cv import CLASS_GENES, CLASS_GENES_FIGURE, INDEX
from leukmodel.explain.sample import EXPLANATION_JSON, SampleExplanation
from leukmodel.owned import OwnedFiles
from leukmodel.report.html import escape, figure_uri, image, page, png_uri, table
from leukmodel.report.results import load_cv_result
from leukmodel.tracking.layout import TAG_PREFIX
from leukmodel.training.cv import CVResult

FIGURE_ORDER = ("mil_attention", "gradcam", "genomic_to_image", "image_to_genomic", "shap_genes")
GENES_SHOWN = 10


@dataclass(frozen=True)
class Flag:
    """A provenance fact shown at the top of the report; ``warn`` when it limits what the results mean."""

    text: str
    warn: bool
    note: str | None = None


def provenance_flags(run: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> list[Flag]:
    """The synthetic, pairing and pretrained flags of a run, from ``run.json`` and (when given) the run's tags.

    ``tags`` may use the ``leukmodel.`` prefix of the MLflow tags; they take precedence over ``run.json``.
    """
    values = {**run.get("tags", {}), **{k.removeprefix(TAG_PREFIX): v for k, v in (tags or {}).items()}}
    backbone = run.get("config", {}).get("backbone", {})
    flags = []
    if values.get("synthetic") == "true":
        note = "The data are synthetic (leukmodel.data.synthetic): results test the software, not a biology."
        flags.append(Flag("SYNTHETIC data", True, note))
    else:
        flags.append(Flag("real data", False))
    pairing = values.get("pairing", "unknown")
    if pairing == "label_matched":
        note = (
            "Pairing is label-matched: each image bag was given the expression profile of another patient of the "
            "same class. Fusion results say nothing about real patients, and results of models that read "
            "expression are not evidence: " + LABEL_MATCHED_REASON
        )
        flags.append(Flag("LABEL-MATCHED pairing", True, note))
    else:
        flags.append(Flag(f"pairing: {pairing}", pairing not in ("paired", "image_only", "expression_only")))
    if pairing != "expression_only":
        arch = values.get("backbone", backbone.get("arch", "?"))
        weights = values.get("backbone_weights", backbone.get("weights", "?"))
        pretrained = values.get("pretrained", str(weights != "none").lower())
        if pretrained == "true":
            flags.append(Flag(f"backbone {arch}: pretrained ({weights})", False))
        else:
            seed = backbone.get("seed", "?")
            note = (
                f"The backbone ({arch}) has no pretrained weights (random initialisation, seed {seed}): tile features "
                "and Grad-CAM maps are those of a random network."
            )
            flags.append(Flag(f"backbone {arch}: NOT pretrained", True, note))
    return flags


def build_report(
    cv_dir: str | PathLike[str],
    explanations_dir: str | PathLike[str] | None,
    out_html: str | PathLike[str],
    *,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> Path:
    """Write the HTML report of the cross-validation saved in ``cv_dir`` to ``out_html``.

    Shows the provenance flags (synthetic, pairing, pretrained), the out-of-fold metrics with 95% intervals, the
    per-class and per-fold tables, McNemar's tests, ROC curves and confusion matrices of every model, and the
    explanations written by :func:`~leukmodel.explain.explain_cv` into ``explanations_dir`` (left out when
    ``None`` or absent). ``tags`` (the MLflow run's) and ``run_id`` are shown when given.

    Raises:
        ArtifactError: ``cv_dir`` lacks a table or ``run.json``.
    """
    out = Path(out_html)
    owned = OwnedFiles(out.parent, "the report")
    owned.check([out.name])
    result = load_cv_result(cv_dir)
    run = result.run
    title = f"Cross-validation report: {run['cohort']}"
    parts = [f"<h1>{escape(title)}</h1>", _subtitle(run, run_id), _flags(provenance_flags(run, tags))]
    parts += _verdicts(result)
    parts += _results(result)
    explanations = Path(explanations_dir) if explanations_dir is not None else None
    if explanations is not None and explanations.is_dir():
        parts += _explanations(explanations, result.classes)
    else:
        parts.append("<h2>Explanations</h2><p>No explanations were computed for this run.</p>")
    parts.append(_footer(run))
    return owned.write_text(out.name, page(title, "\n".join(parts)))


def _subtitle(run: Mapping[str, Any], run_id: str | None) -> str:
    text = (
        f"{run['n_samples']} samples, classes {', '.join(run['classes'])}; {run['n_folds']}-fold stratified, "
        f"patient-grouped cross-validation, seed {run['seed']}; 95% intervals from {run['bootstrap']} bootstrap "
        f"resamples; models {', '.join(run['models'])}."
    )
    if run_id:
        text += f" MLflow run {run_id}."
    return f'<p class="subtitle">{escape(text)}</p>'


def _flags(flags: list[Flag]) -> str:
    badges = "".join(f'<span class="flag {"warn" if f.warn else "ok"}">{escape(f.text)}</span>' for f in flags)
    notes = "".join(f"<li>{escape(f.note)}</li>" for f in flags if f.note)
    return f'<div class="flags">{badges}</div>' + (f'<div class="notes"><ul>{notes}</ul></div>' if notes else "")


def _verdicts(result: CVResult) -> list[str]:
    """The first paragraph: does each deep model beat its linear reference; models left out; not evidence."""
    sentences = [s.replace("**", "") for s in [*result.linear_verdicts(), *result.notes()]]
    return [f'<p class="verdicts">{escape(s)}</p>' for s in sentences]


def _results(result: CVResult) -> list[str]:
    parts = [
        "<h2>Out-of-fold metrics</h2>",
        "<p>Each sample is predicted by the model of the fold that held it out; value [95% bootstrap interval].</p>",
        table(result.summary()),
        "<h3>Per class</h3>",
        table(result.per_class()),
        "<h3>Accuracy per fold</h3>",
        table(result.per_fold("accuracy")),
        "<h2>McNemar's test</h2>",
    ]
    comparisons = result.comparisons()
    if comparisons.empty:
        parts.append("<p>No McNemar test: the reference model was not run with another model.</p>")
    else:
        columns = {
            "reference": "reference",
            "model": "model",
            "n": "n",
            "reference_accuracy": "reference accuracy",
            "model_accuracy": "model accuracy",
            "a_only": "reference right, model wrong",
            "b_only": "model right, reference wrong",
            "p_value": "p-value",
            "method": "method",
            "evidence": "evidence",
        }
        columns = {k: v for k, v in columns.items() if k in comparisons.columns}
        parts += [
            "<p>Paired test of the reference model against each other model, and of each deep model against its "
            "linear reference, on the same samples (out of fold).</p>",
            table(comparisons[list(columns)].rename(columns=columns)),
        ]
    models = list(dict.fromkeys(result.predictions["model"]))
    parts.append("<h2>ROC curves</h2>")
    parts.append(_figures(roc_figure(result.predictions, result.classes, m) for m in models))
    parts.append("<h2>Confusion matrices</h2>")
    parts.append(_figures(confusion_figure(result.predictions, result.classes, m) for m in models))
    return parts


def _figures(figures) -> str:
    return '<div class="figures">' + "".join(image(figure_uri(f), "figure") for f in figures) + "</div>"


def _explanations(folder: Path, classes: tuple[str, ...]) -> list[str]:
    index = json.loads((folder / INDEX).read_text()) if (folder / INDEX).is_file() else None
    if index is not None:
        entries = [(folder / s["folder"], s["reason"]) for s in index["samples"]]
    else:
        entries = [(f.parent, None) for f in sorted(folder.glob(f"*/{EXPLANATION_JSON}"))]
    parts = [
        "<h2>Explanations</h2>",
        "<p>Samples of each class, each explained out of fold by the model of the fold that tested it. "
        "Per class the most confidently right samples are shown, and the most confidently misclassified one "
        "when the class has errors.</p>",
    ]
    if index is not None and "class_genes" in index:
        genes = pd.read_csv(folder / CLASS_GENES, dtype={"probe": str, "symbol": str})
        caption = (
            "For each class, the genes with the largest mean |SHAP| on that class's logit over its explained samples."
        )
        parts += [
            "<h3>Top genes per class</h3>",
            image(png_uri(folder / CLASS_GENES_FIGURE), "top genes per class", caption),
            "<details><summary>table</summary>" + table(genes) + "</details>",
        ]
    explained = [(SampleExplanation.read(path), reason) for path, reason in entries]
    for name in classes:
        mine = [(e, r) for e, r in explained if e.label == name]
        if mine:
            parts.append(f"<h3>Class {escape(name)}</h3>")
            parts += [_sample(e, r) for e, r in mine]
    return parts


def _sample(explanation: SampleExplanation, reason: str | None) -> str:
    right = explanation.predicted == explanation.label
    verdict = "right" if right else "wrong"
    p = explanation.probabilities[explanation.predicted]
    fold = "final model" if explanation.fold is None else f"fold {explanation.fold} model"
    head = (
        f"<h4>Sample {escape(explanation.sample_id)}: true {escape(explanation.label)}, predicted "
        f'<span class="{verdict}">{escape(explanation.predicted)}</span> (p = {p:.2f}), '
        f"{escape(explanation.model)} {fold}</h4>"
    )
    why = f"<p>Picked: {escape(reason)}.</p>" if reason else ""
    record = json.loads((explanation.out_dir / EXPLANATION_JSON).read_text())
    figures = [
        image(png_uri(explanation.figures[kind]), f"{kind} of sample {explanation.sample_id}", record["captions"][kind])
        for kind in FIGURE_ORDER
        if kind in explanation.figures
    ]
    tables = []
    if not explanation.top_tiles.empty:
        tables.append("<details><summary>most-attended tiles</summary>" + table(explanation.top_tiles) + "</details>")
    genes = explanation.top_genes[explanation.top_genes["class"] == explanation.predicted].head(GENES_SHOWN)
    if not genes.empty:
        tables.append(
            f"<details><summary>top genes for {escape(explanation.predicted)}</summary>" + table(genes) + "</details>"
        )
    return f'<div class="sample">{head}{why}<div class="pair">{"".join(figures)}</div>{"".join(tables)}</div>'


def _footer(run: Mapping[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in run.get("versions", {}).items())
    config = yaml.safe_dump(run.get("config", {}), sort_keys=False)
    return (
        "<h2>Run</h2>"
        f"<p>Software: {escape(versions)}.</p>"
        f"<details><summary>configuration</summary><pre>{escape(config)}</pre></details>"
    )
