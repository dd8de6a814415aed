#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md in one run on a machine with CUDA (about 3 minutes on an H200; every step
# has its own time limit so the whole stays under 10 minutes). Run from the repository root in the project's
# environment:
#
#     bash benchmarks/gpu_check.sh            # OUT=folder for the logs (default gpu-check-<date>)
#
# Prints, in order:
#   1. featurize tiles/s end to end on the GPU (benchmarks/feature_extraction.py, bf16 where the GPU has it);
#   2. per-slide inference latency, warm and cold (benchmarks/inference_latency.py --device cuda);
#   3. a CV training epoch at bags_per_step 1 and 32 on 2000 C-NMC-sized bags (benchmarks/cv_scale.py on CUDA);
#   4. a 2-trials-per-GPU Ray Tune cross-validation (ray.gpus_per_trial 0.5) and the device each trial used.
# The last line is `featurize_tiles_per_s=A warm_s_per_slide=B cold_s=C epoch_ratio_b32=D tune_2_per_gpu_s=E`.
set -euo pipefail

OUT=${OUT:-gpu-check-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this check needs a GPU')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

step() {  # step NAME LIMIT_S COMMAND...: run with a time limit, keep the log, print its tail
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s)"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1 || echo "!! $name failed or ran out of time (see $OUT/$name.log)"
    tail -n 4 "$OUT/$name.log"
}
last() { tail -n 1 "$OUT/$1.log" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

step featurize 110 python benchmarks/feature_extraction.py --device cuda --images 512 --rounds 2 --batch-size 128 \
    --workers 8
step inference 110 python benchmarks/inference_latency.py --device cuda --runs 5 --cold-runs 2
step cv_epoch 150 python benchmarks/cv_scale.py --device cuda --precision auto --bags 2000 --batch-sizes 32 \
    --subset-b1 256 --subset 2000 --epochs 25
step tune_2_per_gpu 140 python - <<'EOF'
"""A small cross-validation of the three served models as Ray Tune trials, two trials sharing each GPU."""
import tempfile
import time
from pathlib import Path

import ray
import torch

from leukmodel.config import SyntheticConfig, load_config
from leukmodel.data import build_cohort
from leukmodel.data.synthetic import write_synthetic_cohort
from leukmodel.distributed import RayTuneRunner
from leukmodel.features import featurize, load_bags
from leukmodel.models.registry import MODELS, served_models
from leukmodel.training import run_cross_validation

with tempfile.TemporaryDirectory() as tmp:
    config = load_config(write_synthetic_cohort(Path(tmp) / "cohort", SyntheticConfig(patients=40, image_size=256)))
    config.backbone.arch, config.backbone.weights = "resnet18", "none"
    config.cv.bootstrap, config.training.max_epochs, config.training.bags_per_step = 50, 10, 8
    config.cv.models = served_models(MODELS)
    config.ray.gpus_per_trial, config.ray.cpus_per_trial, config.ray.storage_path = 0.5, 1, Path(tmp) / "ray"
    cohort = build_cohort(config)
    featurize([p for s in cohort.samples for p in s.images], config, progress=False)
    bags = dict(load_bags(cohort, config))
    ray.init(include_dashboard=False, log_to_driver=False)
    gpus = ray.cluster_resources().get("GPU", 0)
    start = time.perf_counter()
    result = run_cross_validation(cohort, bags, config, trial_runner=RayTuneRunner(verbose=0))
    seconds = time.perf_counter() - start
    ray.shutdown()
    devices = sorted(set(result.trials["device"]))
    print(f"{len(result.trials)} trials, {gpus:g} GPUs, 2 trials per GPU, devices {devices}")
    print(f"tune_2_per_gpu_s={seconds:.1f}")
EOF

featurize_rate=$(sed -n 's/^(b) leukmodel featurize.* \([0-9.]*\) tiles\/s.*/\1/p' "$OUT/featurize.log")
echo "featurize_tiles_per_s=${featurize_rate} warm_s_per_slide=$(last inference warm_s_per_slide)" \
    "cold_s=$(last inference cold_s) epoch_ratio_b32=$(last cv_epoch ratio_vs_per_bag)" \
    "tune_2_per_gpu_s=$(last tune_2_per_gpu tune_2_per_gpu_s)"
