"""The genomic-only MLP against its linear reference on p >> n expression, with and without ``training.refit``.

Each cohort is a CuMiDa-layout CSV from :func:`~leukmodel.data.synthetic.microarray.sparse_signal_expression`:
the probe levels of the real GSE28497 rows in ``tests/data`` (``--probes`` of them), ``--per-class`` samples per
class, a few informative probes per class, latent-factor noise. For every seed the same 5-fold patient-grouped
cross-validation runs ``linear_genomic`` and the ``genomic`` MLP twice: early stopping on a validation split of
the training part (``refit: false``, the seed protocol), and the same followed by a refit on training +
validation for the chosen number of epochs (``refit: true``; off by default). The MLP reads standardised
principal components (``model.standardize_genomic: true``, off by default; ``--raw-components`` leaves it off).

Prints per seed the out-of-fold accuracies and macro AUCs, then their means. Last line
``linear_acc=.. refit_acc=.. norefit_acc=.. linear_auc=.. refit_auc=.. norefit_auc=.. cohorts=N``.

    python benchmarks/genomic_vs_linear.py [--seeds 6] [--probes 5000] [--per-class 20] [--classes 2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from leukmodel.config import config_from_dict
from leukmodel.data import build_cohort
from leukmodel.data.synthetic.microarray import sparse_signal_expression
from leukmodel.training import run_cross_validation

REAL_ROWS = Path(__file__).resolve().parents[1] / "tests" / "data" / "cumida-sample"
CLASSES = ("ALL", "AML", "CLL", "CML", "normal")


def out_of_fold(
    csv: Path, seed: int, refit: bool, models: list[str], standardize: bool = True
) -> dict[str, tuple[float, float]]:
    config = config_from_dict(
        {
            "seed": seed,
            "data": {"expression": {"files": [str(csv)]}},
            "model": {"standardize_genomic": standardize},
            "training": {"refit": refit},
            "cv": {"models": models, "bootstrap": 0, "save_models": False},
        }
    )
    result = run_cross_validation(build_cohort(config), {}, config)
    oof = result.metrics[result.metrics["scope"] == "oof"].set_index(["model", "metric"])["value"]
    return {m: (float(oof[(m, "accuracy")]), float(oof[(m, "macro_auc")])) for m in models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--probes", type=int, default=5000)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--informative", type=int, default=20)
    parser.add_argument("--effect", type=float, default=1.0)
    parser.add_argument("--raw-components", action="store_true", help="model.standardize_genomic: false")
    args = parser.parse_args()
    logging.getLogger("leukmodel").setLevel(logging.WARNING)
    real = pd.read_csv(next(REAL_ROWS.glob("*.csv")))
    means = real.drop(columns=["samples", "type"]).mean().iloc[: args.probes]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            csv = Path(tmp) / f"cohort-{seed}.csv"
            classes = CLASSES[: args.classes]
            sparse_signal_expression(means, classes, args.per_class, args.informative, args.effect, seed=seed).to_csv(
                csv, index=False
            )
            standardize = not args.raw_components
            both = out_of_fold(csv, seed, True, ["linear_genomic", "genomic"], standardize)
            norefit = out_of_fold(csv, seed, False, ["genomic"], standardize)["genomic"]
            row = {"seed": seed, "linear": both["linear_genomic"], "refit": both["genomic"], "norefit": norefit}
            rows.append(row)
            print(
                f"seed {seed}: accuracy linear {row['linear'][0]:.3f}, MLP refit {row['refit'][0]:.3f}, "
                f"MLP no refit {row['norefit'][0]:.3f}; macro AUC {row['linear'][1]:.3f} / {row['refit'][1]:.3f} / "
                f"{row['norefit'][1]:.3f}",
                flush=True,
            )
    mean = {k: np.mean([r[k] for r in rows], axis=0) for k in ("linear", "refit", "norefit")}
    print(
        f"mean over {len(rows)} cohorts ({args.per_class * args.classes} samples x {args.probes} probes, "
        f"{args.informative} informative per class): accuracy linear {mean['linear'][0]:.3f}, MLP refit "
        f"{mean['refit'][0]:.3f}, MLP no refit {mean['norefit'][0]:.3f}"
    )
    print(
        f"linear_acc={mean['linear'][0]:.3f} refit_acc={mean['refit'][0]:.3f} norefit_acc={mean['norefit'][0]:.3f} "
        f"linear_auc={mean['linear'][1]:.3f} refit_auc={mean['refit'][1]:.3f} norefit_auc={mean['norefit'][1]:.3f} "
        f"cohorts={len(rows)}"
    )


if __name__ == "__main__":
    main()
