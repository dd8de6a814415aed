"""Cross-validation wall time with 1 trial at a time vs 2 concurrent Ray Tune trials, in one run.

The same cohort, features, folds and models both times; only the scheduling differs:

- sequential: one trial at a time, given every CPU of the machine (torch's intra-op threads use them all:
  ``training.num_threads`` is unset, so a trial takes the CPUs Ray assigns it);
- concurrent: two trials at a time, one CPU (one torch thread) each.

Prints both wall times and their ratio (goal: concurrent / sequential <= 0.65). Last line
``wall_ratio=X sequential_s=Y concurrent_s=Z``.

    python benchmarks/cv_parallel.py [--patients 40] [--folds 5] [--epochs 30]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import ray

from leukmodel.config import SyntheticConfig, load_config
from leukmodel.data import build_cohort
from leukmodel.data.synthetic import write_synthetic_cohort
from leukmodel.distributed import RayTuneRunner
from leukmodel.features import featurize, load_bags
from leukmodel.models.registry import MODELS, served_models
from leukmodel.training import run_cross_validation


def timed_cv(cohort, bags, config, storage: Path, cpus_per_trial: float, concurrent: int) -> float:
    config = config.model_copy(deep=True)
    config.ray.storage_path = storage
    config.ray.cpus_per_trial = cpus_per_trial
    config.ray.max_concurrent_trials = concurrent
    start = time.perf_counter()
    run_cross_validation(cohort, bags, config, trial_runner=RayTuneRunner(verbose=0))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    cpus = os.cpu_count() or 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthetic = SyntheticConfig(patients=args.patients, images_per_patient=2, image_size=256, seed=0)
        config = load_config(write_synthetic_cohort(root / "cohort", synthetic))
        config.cv.n_folds = args.folds
        config.cv.models = served_models(MODELS)  # fusion, image-only, genomic-only
        config.cv.bootstrap = 100
        config.training.max_epochs = args.epochs
        config.training.patience = args.epochs
        config.training.num_threads = None  # a trial uses the CPUs Ray gives it (both, when sequential)
        cohort = build_cohort(config)
        featurize([p for s in cohort.samples for p in s.images], config, progress=False)
        bags = dict(load_bags(cohort, config))
        trials = len(config.cv.models) * args.folds
        print(f"{len(cohort)} samples, {trials} trials of {args.epochs} epochs each, {cpus} CPUs")
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        try:
            timed_cv(cohort, bags, config, root / "warmup", cpus, 1)  # Ray workers, imports, oneDNN warm-up
            sequential = timed_cv(cohort, bags, config, root / "sequential", cpus, 1)
            concurrent = timed_cv(cohort, bags, config, root / "concurrent", 1, 2)
        finally:
            ray.shutdown()
    ratio = concurrent / sequential
    print(f"1 trial at a time, {cpus} CPUs each: {sequential:.1f} s")
    print(f"2 concurrent trials, 1 CPU each:   {concurrent:.1f} s")
    print(f"ratio concurrent / sequential:     {ratio:.2f} (goal <= 0.65)")
    print(f"wall_ratio={ratio:.2f} sequential_s={sequential:.1f} concurrent_s={concurrent:.1f}")


if __name__ == "__main__":
    main()
