"""The genomic-only MLP against its linear reference on p >> n expression, as configured by default and without
its two p >> n measures (standardised components, refit on training + validation).

Each cohort is a CuMiDa-layout CSV from :func:`~leukmodel.data.synthetic.microarray.sparse_signal_expression`:
the probe levels of the real GSE28497 rows in ``tests/data`` (``--probes`` of them), ``--per-class`` samples per
class, ``--informative`` probes per class moved by ``--effect`` log2 units, latent-factor noise. For every seed the
same 5-fold patient-grouped cross-validation runs ``linear_genomic`` and the ``genomic`` MLP three ways: the
defaults (``model.standardize_genomic`` and ``training.refit`` left to the model: both on), standardised
components without refit, and raw components without refit (the seed protocol and this project's former default).

Prints per seed the out-of-fold accuracies and macro AUCs, then their means. Last line
``linear_acc=.. default_acc=.. norefit_acc=.. raw_acc=.. linear_auc=.. default_auc=.. cohorts=N``.

    python benchmarks/genomic_vs_linear.py [--seeds 3] [--probes 5000] [--per-class 13] [--classes 5]
        [--informative 200] [--effect 1.5]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leukmodel.config import config_from_dict
from leukmodel.data import build_cohort
from leukmodel.data.synthetic.microarray import sparse_signal_expression
from leukmodel.training import run_cross_validation

REAL_ROWS = Path(__file__).resolve().parents[1] / "tests" / "data" / "cumida-sample"
CLASSES = ("ALL", "AML", "CLL", "CML", "normal")
#: name -> (cv.models, model section, training section)
VARIANTS: dict[str, tuple[list[str], dict[str, Any], dict[str, Any]]] = {
    "linear": (["linear_genomic"], {}, {}),
    "default": (["genomic"], {}, {}),
    "norefit": (["genomic"], {"standardize_genomic": True}, {"refit": False}),
    "raw": (["genomic"], {"standardize_genomic": False}, {"refit": False}),
}


def out_of_fold(csv: Path, seed: int, variant: str) -> tuple[float, float]:
    models, model, training = VARIANTS[variant]
    config = config_from_dict(
        {
            "seed": seed,
            "data": {"expression": {"files": [str(csv)]}},
            "model": model,
            "training": training,
            "cv": {"models": models, "bootstrap": 0, "save_models": False},
        }
    )
    result = run_cross_validation(build_cohort(config), {}, config)
    oof = result.metrics[result.metrics["scope"] == "oof"].set_index(["model", "metric"])["value"]
    return float(oof[(models[0], "accuracy")]), float(oof[(models[0], "macro_auc")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--probes", type=int, default=5000)
    parser.add_argument("--per-class", type=int, default=13)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--informative", type=int, default=200)
    parser.add_argument("--effect", type=float, default=1.5)
    args = parser.parse_args()
    logging.getLogger("leukmodel").setLevel(logging.WARNING)
    real = pd.read_csv(next(REAL_ROWS.glob("*.csv")))
    means = real.drop(columns=["samples", "type"]).mean().iloc[: args.probes]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            csv = Path(tmp) / f"cohort-{seed}.csv"
            table = sparse_signal_expression(
                means, CLASSES[: args.classes], args.per_class, args.informative, args.effect, seed=seed
            )
            table.to_csv(csv, index=False)
            rows.append({variant: out_of_fold(csv, seed, variant) for variant in VARIANTS})
            print(
                f"seed {seed}: accuracy / macro AUC "
                + ", ".join(f"{v} {acc:.3f} / {auc:.3f}" for v, (acc, auc) in rows[-1].items()),
                flush=True,
            )
    mean = {v: np.mean([r[v] for r in rows], axis=0) for v in VARIANTS}
    print(
        f"mean over {len(rows)} cohorts ({args.per_class * args.classes} samples, {args.classes} classes, "
        f"{args.probes} probes, {args.informative} informative per class, effect {args.effect}): "
        + ", ".join(f"{v} {acc:.3f} / {auc:.3f}" for v, (acc, auc) in mean.items())
    )
    print(
        " ".join(f"{v}_acc={mean[v][0]:.3f}" for v in VARIANTS)
        + f" linear_auc={mean['linear'][1]:.3f} default_auc={mean['default'][1]:.3f} cohorts={len(rows)}"
    )


if __name__ == "__main__":
    main()
