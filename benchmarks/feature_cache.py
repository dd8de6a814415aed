"""Feature cache: a cold and a warm ``featurize`` of one cohort, in one run.

Generates a synthetic cohort (C-NMC-like 450 px images, both styles), fills an empty cache (cold), then runs
the same call again (warm). Each call loads the backbone itself, as a separate ``leukmodel featurize`` would.
Prints both wall times, their ratio, and the backbone forward passes of the warm run, which must be 0. Last
line ``cold_warm_ratio=X warm_forward_passes=N``.

    python benchmarks/feature_cache.py [--patients 24] [--images-per-patient 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from leukmodel.config import SyntheticConfig, load_config
from leukmodel.data import build_cohort
from leukmodel.data.synthetic import write_synthetic_cohort
from leukmodel.features import featurize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=24)
    parser.add_argument("--images-per-patient", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=450)
    parser.add_argument("--weights", default="none", help="backbone weights: none, imagenet or a file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SyntheticConfig(
            patients=args.patients, images_per_patient=args.images_per_patient, image_size=args.image_size
        )
        config = load_config(write_synthetic_cohort(Path(tmp) / "cohort", cfg))
        config.backbone.weights = args.weights
        cohort = build_cohort(config)
        images = [path for sample in cohort.samples for path in sample.images]
        cold = featurize(images, config, progress=False)
        warm = featurize(images, config, progress=False)
    ratio = cold.seconds / warm.seconds
    print(f"cohort: {len(cohort)} samples, {len(images)} images, backbone {cold.backbone.arch} ({cold.precision})")
    for name, run in (("cold", cold), ("warm", warm)):
        print(
            f"{name}: {run.seconds:6.1f} s  {run.hits} cached, {run.misses} computed, {run.tiles} tiles, "
            f"{run.forward_passes} forward passes"
        )
    print(f"cold / warm wall time: {ratio:.1f}")
    print(f"cold_warm_ratio={ratio:.1f} warm_forward_passes={warm.forward_passes}")
    if warm.forward_passes or warm.misses:
        raise SystemExit("the warm run recomputed features")


if __name__ == "__main__":
    main()
