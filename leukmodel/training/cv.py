"""Cross-validation: every (model, fold) trial, then metrics, confusion matrices and McNemar tests.

Output folder written by :meth:`CVResult.save`::

    predictions.csv   out-of-fold predictions: sample_id, patient_id, fold, model, y_true, y_pred, prob_<class>...
    metrics.csv       model, scope (oof | fold), fold, metric, value, ci_low, ci_high (out of fold only), n
    confusion.csv     model, scope, fold, true, predicted, count
    mcnemar.csv       reference vs each other model on the same samples (2x2 counts, statistic, p_value, method,
                      evidence: "not evidence" under label-matched pairing for models that read expression)
    mcnemar_linear.csv  each other deep model vs its linear reference, in the same layout
    trials.csv        one row per (model, fold): seed, best_epoch, epochs, seconds, inference s/slide, log choice
    history.csv       model, fold, epoch, train_loss, val_loss, val_auc, val_accuracy
    folds.csv         fold, role (train | val | test), sample_id, patient_id, label
    summary.md        deep models vs their linear references first, then the tables (out-of-fold metrics with 95%
                      CIs, McNemar, per class), models left out and why
    run.json          seed, classes, provenance tags, models (run, left out and why, not evidence), bootstrap,
                      library versions and the whole (resolved) config
    models/<model>-fold<k>.pt   each trial's ModelBundle (with cv.save_models)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import torch

import leukmodel
from leukmodel.config.model import ModelName
from leukmodel.config.root import Config
from leukmodel.data.cohort import Cohort
from leukmodel.data.confounds import confound_warnings
from leukmodel.evaluation.evidence import LABEL_MATCHED_REASON, NOT_EVIDENCE, evidence_column, matched_models
from leukmodel.evaluation.mcnemar import mcnemar_table
from leukmodel.evaluation.metrics import classification_metrics
from leukmodel.evaluation.tables import format_interval, markdown_table
from leukmodel.models.registry import linear_references, uses_expression
from leukmodel.owned import OwnedFiles
from leukmodel.training.bundle import ModelBundle
from leukmodel.training.plan import plan_models, resolve_models
from leukmodel.training.splits import folds_table, make_folds
from leukmodel.training.trainer import FeatureBag, TrialResult, run_trial

logger = logging.getLogger(__name__)

MODELS = "models"
"""The folder of the fold models (:func:`bundle_file`)."""
RUN_JSON = "run.json"
"""The cross-validation's record: cohort, provenance, folds, models and the whole config."""
TABLES = ("predictions", "metrics", "confusion", "mcnemar", "trials", "history", "folds")
"""The tables every cross-validation output folder holds, as ``<name>.csv`` (the fields of :class:`CVResult`)."""
LINEAR_MCNEMAR = "mcnemar_linear"
"""The table of the deep models against their linear references (absent from folders older than the references)."""
OUTPUT_FILES = (*(f"{t}.csv" for t in (*TABLES, LINEAR_MCNEMAR)), "summary.md", RUN_JSON)
"""The files :meth:`CVResult.save` writes besides ``models/``."""
HEADLINE = ("accuracy", "macro_f1", "macro_auc")


@dataclass(frozen=True)
class TrialSpec:
    """One unit of cross-validation work: a model on a fold."""

    model_name: ModelName
    fold_index: int


TrialRunner = Callable[[Sequence[TrialSpec], Cohort, dict[str, FeatureBag], Config], list[TrialResult]]
"""Runs the trials and returns their results (in any order): sequentially here, Ray Tune in orchestration."""


def run_trials_sequentially(
    specs: Sequence[TrialSpec], cohort: Cohort, bags: dict[str, FeatureBag], config: Config
) -> list[TrialResult]:
    """The default :data:`TrialRunner`: each trial in this process, one after the other."""
    results = []
    for i, spec in enumerate(specs, 1):
        logger.info("trial %d/%d: %s, fold %d", i, len(specs), spec.model_name, spec.fold_index)
        results.append(run_trial(spec.model_name, spec.fold_index, cohort, bags, config))
    return results


def trial_specs(config: Config) -> list[TrialSpec]:
    """Every (model, fold) of the configured cross-validation."""
    return [TrialSpec(m, k) for m in config.cv.models for k in range(config.cv.n_folds)]


@dataclass
class CVResult:
    """Everything a cross-validation produced. See the module docstring for the files :meth:`save` writes.

    Attributes:
        classes: the class order.
        predictions: out-of-fold predictions of every model.
        metrics: long table ``model, scope, fold, metric, value, ci_low, ci_high, n`` (scope ``oof`` or ``fold``).
        confusion: long table ``model, scope, fold, true, predicted, count``.
        mcnemar: ``cv.reference`` against each other model (see :func:`~leukmodel.evaluation.mcnemar_table`), with
            an ``evidence`` column.
        trials: one row per (model, fold).
        history: per-epoch records of every trial.
        folds: the split (every sample's role in every fold).
        run: seed, classes, provenance tags, models (``models_left_out`` with reasons, ``not_evidence``), library
            versions and the config.
        bundles: the trained model of each trial.
    """

    classes: tuple[str, ...]
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    confusion: pd.DataFrame
    mcnemar: pd.DataFrame
    trials: pd.DataFrame
    history: pd.DataFrame
    folds: pd.DataFrame
    run: dict[str, Any]
    bundles: list[ModelBundle] = field(default_factory=list, repr=False)
    linear_mcnemar: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Each deep model other than the reference against its linear reference (same layout as ``mcnemar``)."""

    def comparisons(self) -> pd.DataFrame:
        """Every McNemar test: ``mcnemar`` then ``linear_mcnemar``."""
        frames = [f for f in (self.mcnemar, self.linear_mcnemar) if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> pd.DataFrame:
        """Out-of-fold accuracy, macro F1 and macro AUC with 95% CIs, and inference time, one row per model."""
        oof = self.metrics[self.metrics["scope"] == "oof"]
        rows = []
        for model, group in oof.groupby("model", sort=False):
            by_metric = group.set_index("metric")
            row: dict[str, Any] = {"model": model, "n": int(by_metric["n"].iloc[0])}
            for metric in HEADLINE:
                m = by_metric.loc[metric]
                row[metric] = format_interval(m["value"], m["ci_low"], m["ci_high"])
            trials = self.trials[self.trials["model"] == model]
            row["inference_s_per_slide"] = float(trials["inference_seconds_per_slide"].mean())
            row["best_epochs"] = ", ".join(str(e) for e in trials["best_epoch"])
            if self.not_evidence:
                row["evidence"] = NOT_EVIDENCE if model in self.not_evidence else "yes"
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def not_evidence(self) -> list[str]:
        """Models whose results are not evidence (label-matched pairing; :mod:`leukmodel.evaluation.evidence`)."""
        return list(self.run.get("not_evidence", []))

    def linear_verdicts(self) -> list[str]:
        """One sentence per deep model run beside its linear reference: does it beat it (McNemar, intervals)?"""
        comparisons = self.comparisons()
        if comparisons.empty:
            return []
        oof = self.metrics[(self.metrics["scope"] == "oof") & (self.metrics["metric"] == "accuracy")]
        accuracy = {r.model: format_interval(r.value, r.ci_low, r.ci_high) for r in oof.itertuples()}
        sentences = []
        for row in comparisons.itertuples(index=False):
            if row.model not in linear_references(row.reference):
                continue
            significant = row.p_value < 0.05
            if significant and row.reference_accuracy > row.model_accuracy:
                verdict = "beats"
            elif significant:
                verdict = "loses to"
            else:
                verdict = "does not significantly differ from"
            flag = f" ({NOT_EVIDENCE})" if getattr(row, "evidence", "yes") == NOT_EVIDENCE else ""
            sentences.append(
                f"**{row.reference}** {verdict} its linear reference {row.model}{flag}: accuracy "
                f"{accuracy[row.reference]} vs {accuracy[row.model]} (95% bootstrap intervals), McNemar p = "
                f"{row.p_value:.3g} ({row.method}, {row.a_only} vs {row.b_only} discordant samples)."
            )
        return sentences

    def notes(self) -> list[str]:
        """Models left out and why, classes confounded with a source, and which results are not evidence and why."""
        notes = []
        left_out = self.run.get("models_left_out", {})
        if left_out:
            notes.append("Models not run: " + "; ".join(f"{m} ({why})" for m, why in left_out.items()) + ".")
        for warning in self.run.get("confounds", []):
            notes.append(f"**Class confounded with source** ({warning}): a model may learn the source, not the class.")
        if self.not_evidence:
            notes.append(
                f"**Not evidence**: {', '.join(self.not_evidence)} and every comparison involving them: "
                + LABEL_MATCHED_REASON
            )
        return notes

    def per_class(self) -> pd.DataFrame:
        """Out-of-fold per-class F1 and one-vs-rest AUC with 95% CIs, one row per (model, class)."""
        oof = self.metrics[self.metrics["scope"] == "oof"].set_index(["model", "metric"])
        rows = []
        for model in self.metrics["model"].unique():
            for name in self.classes:
                row = {"model": model, "class": name}
                for kind in ("f1", "auc"):
                    m = oof.loc[(model, f"{kind}[{name}]")]
                    row[kind] = format_interval(m["value"], m["ci_low"], m["ci_high"])
                rows.append(row)
        return pd.DataFrame(rows)

    def per_fold(self, metric: str = "accuracy") -> pd.DataFrame:
        """``metric`` per fold (columns) and model (rows)."""
        folds = self.metrics[(self.metrics["scope"] == "fold") & (self.metrics["metric"] == metric)]
        table = folds.pivot(index="model", columns="fold", values="value").reindex(folds["model"].unique())
        table.columns = [f"fold {int(c)}" for c in table.columns]
        return table.reset_index()

    def to_markdown(self) -> str:
        """The summary a reader wants first: metrics with CIs, McNemar, per-class, per-fold, confusion matrices."""
        tags = ", ".join(f"{k}={v}" for k, v in self.run["tags"].items())
        verdicts = self.linear_verdicts()
        parts = [" ".join(verdicts)] if verdicts else []
        parts += [
            f"Cohort `{self.run['cohort']}` ({tags}); {self.run['n_samples']} samples, "
            f"{self.run['n_folds']}-fold patient-grouped cross-validation, seed {self.run['seed']}, "
            f"{self.run['bootstrap']} bootstrap resamples for the 95% intervals.",
            *self.notes(),
            "### Out-of-fold metrics\n\n" + markdown_table(self.summary()),
        ]
        comparisons = self.comparisons()
        if not comparisons.empty:
            columns = ["reference", "model", "n", "reference_accuracy", "model_accuracy", "a_only", "b_only"]
            extra = [c for c in ("p_value", "method", "evidence") if c in comparisons.columns]
            table = comparisons[[*columns, *extra]].rename(
                columns={"a_only": "reference right, model wrong", "b_only": "model right, reference wrong"}
            )
            parts.append("### McNemar\n\n" + markdown_table(table))
        parts.append("### Per class (out of fold)\n\n" + markdown_table(self.per_class()))
        parts.append("### Accuracy per fold\n\n" + markdown_table(self.per_fold("accuracy")))
        for model in self.metrics["model"].unique():
            matrix = self.confusion[(self.confusion["model"] == model) & (self.confusion["scope"] == "oof")]
            wide = matrix.pivot(index="true", columns="predicted", values="count")
            wide = wide.loc[list(self.classes), list(self.classes)].reset_index()
            parts.append(f"### Confusion matrix, {model} (rows true, columns predicted)\n\n" + markdown_table(wide))
        return "\n\n".join(parts) + "\n"

    def save(self, out_dir: str | PathLike[str]) -> Path:
        """Write the tables, the summary, ``run.json`` and the trained bundles into ``out_dir``.

        Only files leukmodel wrote there before (and nobody changed since) are replaced (:mod:`leukmodel.owned`).
        """
        out = Path(out_dir)
        tables = {name: getattr(self, name) for name in TABLES} | {LINEAR_MCNEMAR: self.linear_mcnemar}
        models = [bundle_file(b.model_name, b.fold) for b in self.bundles]
        owned = OwnedFiles(out, "the cross-validation's output")
        owned.claim([*OUTPUT_FILES, *models])
        for name, frame in tables.items():
            owned.write_text(f"{name}.csv", frame.to_csv(index=False), save=False)
        owned.write_text("summary.md", self.to_markdown(), save=False)
        owned.write_text(RUN_JSON, json.dumps(self.run, indent=2), save=False)
        for bundle, name in zip(self.bundles, models, strict=True):
            owned.adopt(bundle.save(out / name), save=False)
        owned.save()
        return out


def bundle_file(model: str, fold: int) -> str:
    """Where :meth:`CVResult.save` writes the model of ``fold``: ``models/<model>-fold<k>.pt``."""
    return f"{MODELS}/{model}-fold{fold}.pt"


def check_output_dir(out_dir: str | PathLike[str]) -> None:
    """Refuse, before any work, an output folder that is a file or holds files in the way of :meth:`CVResult.save`.

    Raises:
        NotOursError: names the file(s); see :mod:`leukmodel.owned`.
    """
    OwnedFiles(out_dir, "the cross-validation's output").check(OUTPUT_FILES, folders=[MODELS])


def run_cross_validation(
    cohort: Cohort,
    bags: dict[str, FeatureBag],
    config: Config,
    out_dir: str | PathLike[str] | None = None,
    trial_runner: TrialRunner | None = None,
) -> CVResult:
    """Run every (model, fold) trial of ``config.cv`` and summarise them; save to ``out_dir`` when given.

    ``cv.models`` and ``cv.reference`` are resolved for the cohort first (:func:`~leukmodel.training.plan`).

    Raises:
        NotOursError: ``out_dir`` (checked before any training) is a file, or holds files in the way that
            leukmodel did not write.
    """
    if out_dir is not None:
        check_output_dir(out_dir)
    config = resolve_models(config, cohort)
    make_folds(cohort, config.cv.n_folds, config.cv.val_fraction, config.seed)
    runner = trial_runner or run_trials_sequentially
    result = summarize(runner(trial_specs(config), cohort, bags, config), cohort, config)
    if out_dir is not None:
        result.save(out_dir)
    return result


def summarize(trials: Sequence[TrialResult], cohort: Cohort, config: Config) -> CVResult:
    """Metrics, confusion matrices and McNemar tests of ``trials``.

    Out-of-fold metrics carry bootstrap 95% intervals (``cv.bootstrap`` resamples); per-fold metrics are point
    estimates (their spread across folds is the per-fold view).
    """
    plan = plan_models(config, cohort)
    config = resolve_models(config, cohort)
    order = {m: i for i, m in enumerate(config.cv.models)}
    trials = sorted(trials, key=lambda t: (order.get(t.model_name, len(order)), t.fold))
    classes = list(cohort.classes)
    predictions = pd.concat([t.predictions for t in trials], ignore_index=True)
    metric_rows, confusion_rows = [], []
    for model, group in predictions.groupby("model", sort=False):
        scopes = [("oof", None, group)] + [("fold", int(k), g) for k, g in group.groupby("fold", sort=True)]
        for scope, fold, frame in scopes:
            y = frame["y_true"].map({c: i for i, c in enumerate(classes)}).to_numpy()
            prob = frame[[f"prob_{c}" for c in classes]].to_numpy()
            n_bootstrap = config.cv.bootstrap if scope == "oof" else 0
            result = classification_metrics(y, prob, classes, n_bootstrap, config.seed)
            key = {"model": model, "scope": scope, "fold": fold}
            metric_rows += [{**key, **row, "n": result.n} for row in result.table().to_dict("records")]
            confusion_rows += [
                {**key, "true": t, "predicted": p, "count": int(result.confusion.loc[t, p])}
                for t in classes
                for p in classes
            ]
    pairs = [(deep, ref) for deep in plan.models if deep != plan.reference for ref in linear_references(deep)]
    not_evidence = matched_models(cohort.pairing, plan.models, uses_expression)
    mcnemar, linear = mcnemar_table(predictions, plan.reference), mcnemar_table(predictions, None, pairs)
    for table in (mcnemar, linear):
        if not table.empty:
            table["evidence"] = evidence_column(table, not_evidence, ("reference", "model"))
    return CVResult(
        classes=tuple(classes),
        predictions=predictions,
        metrics=_with_int_fold(pd.DataFrame(metric_rows)),
        confusion=_with_int_fold(pd.DataFrame(confusion_rows)),
        mcnemar=mcnemar,
        linear_mcnemar=linear,
        trials=pd.DataFrame([_trial_row(t) for t in trials]),
        history=pd.DataFrame(
            [{"model": t.model_name, "fold": t.fold, **record} for t in trials for record in t.history]
        ).astype({"epoch": int}),
        folds=folds_table(make_folds(cohort, config.cv.n_folds, config.cv.val_fraction, config.seed), cohort),
        run={
            **_run_record(cohort, config),
            "models_left_out": plan.left_out,
            "not_evidence": not_evidence,
            "confounds": confound_warnings(cohort),
        },
        bundles=[ModelBundle.from_trial(t, cohort, config) for t in trials] if config.cv.save_models else [],
    )


def _trial_row(trial: TrialResult) -> dict[str, Any]:
    transform = trial.genomic_transform
    return {
        "model": trial.model_name,
        "fold": trial.fold,
        "seed": trial.seed,
        "n_test": len(trial.predictions),
        "best_epoch": trial.best_epoch,
        "epochs": len(trial.history),
        "train_seconds": trial.train_seconds,
        "inference_seconds_per_slide": trial.inference_seconds_per_slide,
        "device": trial.device,
        "log2_applied": None if transform is None else transform.log_applied_,
        "log2_reason": None if transform is None else transform.log_reason_,
        "n_components": None if transform is None else transform.n_components_,
    }


def _run_record(cohort: Cohort, config: Config) -> dict[str, Any]:
    return {
        "cohort": cohort.name,
        "n_samples": len(cohort),
        "classes": list(cohort.classes),
        "tags": cohort.tags(),
        "seed": config.seed,
        "n_folds": config.cv.n_folds,
        "val_fraction": config.cv.val_fraction,
        "models": list(config.cv.models),
        "bootstrap": config.cv.bootstrap,
        "versions": {
            "leukmodel": leukmodel.__version__,
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "config": config.to_dict(),
    }


def _with_int_fold(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"fold": "Int64"}) if not frame.empty else frame
