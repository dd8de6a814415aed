"""Per-slide inference latency: image files -> prediction + attention for a 64-tile bag, warm and cold.

A real registered model is built first (not timed): a synthetic cohort (16 patients, one 448 px image each),
ResNet-50 features of 224 px tiles (random weights: the same compute as ImageNet's, no download), the three final
models trained for two epochs, logged with ``leukmodel.serving.log_model`` in a temporary SQLite MLflow and
registered as ``champion``. The timed bag is one patient's four 600 px images, 16 tiles each
(``tiles.min_foreground: 0`` keeps every tile): 64 tiles.

- warm: the model loaded once (backbone kept in memory, as ``mlflow models serve`` keeps it) reads one patient's
  4 image files, tiles them, encodes the 64 tiles and runs the fusion model; median over ``--runs`` after
  ``--warmup`` unmeasured runs. After each prediction the device's matmul rate in the backbone's precision is
  measured over as long a window, giving the roofline of the 64 tiles (64 x 8.2 GFLOP at that rate) under the same
  load: the ratio warm / roofline means something on a shared machine, where seconds depend on the neighbours.
- cold: what ``leukmodel predict`` does: a fresh Python process imports leukmodel and MLflow, loads
  ``models:/NAME@champion`` (bundles and backbone weights from the artifact store, SHA-256 check) and predicts the
  same bag; timed inside the process from its start (after the standard-library imports) to the prediction,
  median over ``--cold-runs`` processes (their CPU time is printed too).

Last line ``warm_s_per_slide=X cold_s=Y``.

    python benchmarks/inference_latency.py [--runs 5] [--cold-runs 3] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()

NAME = "leukmodel-latency"
TILES_PER_BAG = 64
GFLOP_PER_TILE = 8.2
"""ResNet-50 forward on one 224 px tile: 4.1 GMACs (torchvision's figure)."""
MATMUL_SIZE = 4096


def build_model(root: Path, device: str) -> tuple[str, list[str], dict[str, float]]:
    """Train, log and register the model; return the tracking URI, one patient's 4 image paths and profile.

    The model trains on 16 patients with one 448 px image each (9 tiles); the timed bag is patient 1's four
    600 px images (16 tiles each) from a second cohort of the same seed, tiled with the same settings.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from leukmodel.config import SyntheticConfig, load_config
    from leukmodel.data import build_cohort
    from leukmodel.data.synthetic import write_synthetic_cohort
    from leukmodel.features import featurize, load_bags
    from leukmodel.serving import log_model
    from leukmodel.training import train_final

    config = load_config(
        write_synthetic_cohort(root / "train", SyntheticConfig(patients=16, images_per_patient=1, image_size=448))
    )
    config.tiles.min_foreground = 0.0
    config.features.device = device
    config.training.max_epochs = 2
    config.training.patience = 2
    config.cv.val_fraction = 0.25
    cohort = build_cohort(config)
    report = featurize([p for s in cohort.samples for p in s.images], config, progress=False)
    print(f"setup: {report.summary().splitlines()[0]}", flush=True)
    bags = load_bags(cohort, config)
    bundles = {m: train_final(m, cohort, bags, config) for m in ("fusion", "image", "genomic")}
    tracking_uri = f"sqlite:///{(root / 'mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("latency", artifact_location=(root / "mlartifacts").as_uri())
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(experiment_id=experiment):
        info = log_model(bundles, config, backbone_info=report.backbone)
    version = mlflow.register_model(info.model_uri, NAME)
    client.set_registered_model_alias(NAME, "champion", version.version)

    slides = SyntheticConfig(patients=4, images_per_patient=4, image_size=600)
    sample = build_cohort(load_config(write_synthetic_cohort(root / "slides", slides))).samples[0]
    profile = cohort.expression.loc[cohort.samples[0].expression_id]
    return tracking_uri, [str(p) for p in sample.images], {str(g): float(v) for g, v in profile.items()}


def predict_once(predictor, images: list[str], profile: dict[str, float]):
    from leukmodel.serving import SampleInput, read_images

    prediction = predictor.predict(SampleInput("latency", read_images(images), profile))
    prediction.to_record(predictor.spec.top_tiles)
    if len(prediction.attention) != TILES_PER_BAG:
        raise RuntimeError(f"the bag has {len(prediction.attention)} tiles, not {TILES_PER_BAG}")
    return prediction


def matmul_flops(device, dtype, seconds: float) -> float:
    """The device's mean matmul rate (FLOP/s) in the backbone's precision over about ``seconds`` of back-to-back
    4096 x 4096 products: measured over a window as long as a prediction, it sees the same share of a shared
    machine.
    """
    import torch

    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device).to(dtype)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device).to(dtype)
    torch.matmul(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        count += 1
    return 2 * MATMUL_SIZE**3 * count / (time.perf_counter() - start)


def cold_child(tracking_uri: str, sample_file: Path, device: str) -> None:
    """One cold start, in this fresh process: imports, load from the registry, first prediction."""
    from leukmodel.serving import load_predictor

    sample = json.loads(sample_file.read_text())
    predictor = load_predictor(f"models:/{NAME}@champion", tracking_uri=tracking_uri, device=device)
    loaded = time.perf_counter()
    predict_once(predictor, sample["images"], sample["expression"])
    done = time.perf_counter()
    print(json.dumps({"cold_s": done - START, "load_s": loaded - START, "predict_s": done - loaded}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured warm predictions")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured warm predictions first")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes for the cold figure")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--cold-child", nargs=2, metavar=("TRACKING_URI", "SAMPLE_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_child:
        cold_child(args.cold_child[0], Path(args.cold_child[1]), args.device)
        return

    import torch

    from leukmodel.serving import load_predictor

    with tempfile.TemporaryDirectory(prefix="leukmodel-latency-") as tmp:
        root = Path(tmp)
        tracking_uri, images, profile = build_model(root, args.device)
        sample_file = root / "sample.json"
        sample_file.write_text(json.dumps({"images": images, "expression": profile}))

        predictor = load_predictor(f"models:/{NAME}@champion", tracking_uri=tracking_uri, device=args.device)
        dtype = torch.bfloat16 if predictor.precision == "bf16" else torch.float32
        for _ in range(args.warmup):
            predict_once(predictor, images, profile)
        warm, parts, rooflines = [], [], []
        for _ in range(args.runs):  # a prediction, then the matmul rate: both see the same load on a shared machine
            start = time.perf_counter()
            prediction = predict_once(predictor, images, profile)
            warm.append(time.perf_counter() - start)
            parts.append(prediction.seconds)
            rate = matmul_flops(predictor.device, dtype, seconds=warm[-1])
            rooflines.append(TILES_PER_BAG * GFLOP_PER_TILE * 1e9 / rate)
        stages = {k: statistics.median(p[k] for p in parts) for k in parts[0]}

        cold = []
        command = [sys.executable, __file__, "--device", args.device, "--cold-child", tracking_uri, str(sample_file)]
        for _ in range(args.cold_runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            cold.append({**json.loads(done.stdout.strip().splitlines()[-1]), "cpu_s": cpu})

    device = predictor.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPU cores"
    warm_s = statistics.median(warm)
    cold_s = statistics.median(c["cold_s"] for c in cold)
    print(f"device: {device} ({name}), backbone resnet50 in {predictor.precision}, {torch.get_num_threads()} threads")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"warm: {warm_s:.3f} s per slide of {TILES_PER_BAG} tiles (median of {len(warm)}, fastest {min(warm):.3f} s; "
        + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items())
        + f"; backbone {TILES_PER_BAG / stages['features']:.1f} tiles/s)"
    )
    ratios = [w / r for w, r in zip(warm, rooflines, strict=True)]
    print(
        f"roofline: {TILES_PER_BAG} tiles x {GFLOP_PER_TILE} GFLOP at the {predictor.precision} matmul rate measured "
        f"after each prediction (as long) = {statistics.median(rooflines):.3f} s (median); warm / roofline = "
        f"{statistics.median(ratios):.2f} (median of the rounds' ratios)"
    )
    print(
        f"cold: {cold_s:.3f} s (median of {len(cold)} fresh processes, fastest {min(c['cold_s'] for c in cold):.3f} s; "
        "imports + load "
        f"{statistics.median(c['load_s'] for c in cold):.3f} s, first prediction "
        f"{statistics.median(c['predict_s'] for c in cold):.3f} s; CPU time "
        f"{statistics.median(c['cpu_s'] for c in cold):.1f} s)"
    )
    print(f"warm_s_per_slide={warm_s:.3f} cold_s={cold_s:.3f}")


if __name__ == "__main__":
    main()
