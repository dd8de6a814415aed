"""Tile feature extraction: a CLAM-style eager loop vs leukmodel's featurize, on the same image files, in one run.

(a) CLAM's way (``extract_features_fp.py`` on a CPU): PIL decode, each patch through torchvision's
    ``ToTensor`` + ``Normalize``, a plain eager fp32 NCHW ResNet-50 in ``inference_mode`` at batch 32. Its
    patch coordinates are computed beforehand and not timed (CLAM's separate patching step).
(b) leukmodel's ``featurize``: files to cache (hashing, decoding, masking and tiling in DataLoader workers,
    batches packed across images, channels-last, batch norm folded, bf16 where the CPU/GPU has it, HDF5 writes).

Both run the same ResNet-50 weights on the same tiles after a warm-up. Speed does not depend on the weights, so
random ones are used (no download needed). Also measures the device's matmul peak (bf16 where supported) and
prints (b)'s fraction of the roofline at 8.2 GFLOP per 224x224 tile.

On a shared machine the load changes while a benchmark runs, so the images are split into rounds, each running
(a), (b) and the matmul in turn within seconds of each other; the figures reported are the medians of the
per-round figures (the totals are printed too). Rounds end where the tile count is a multiple of the batch size
where possible, so that a round, like a whole run, has no padded batch but at most its last. Last line
``ratio_vs_eager=X roofline_fraction=Y``.

    python benchmarks/feature_extraction.py [--images 128] [--rounds 4] [--data FOLDER]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from leukmodel.config import BackboneConfig, Config, SyntheticConfig, config_from_dict
from leukmodel.data.images import read_rgb
from leukmodel.data.synthetic import write_synthetic_cohort
from leukmodel.features import FeatureCache, FeatureExtractor, cache_settings, featurize, file_sha256, load_backbone
from leukmodel.features.device import bf16_supported
from leukmodel.features.extractor import IMAGENET_MEAN, IMAGENET_STD
from leukmodel.preprocessing import tile_image

GFLOP_PER_TILE = 8.2  # ResNet-50 forward on one 224x224 tile (2 x 4.1 GMAC)
EXTENSIONS = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


def synthetic_images(folder: Path, count: int, size: int) -> list[Path]:
    cfg = SyntheticConfig(patients=math.ceil(count / 2), images_per_patient=2, image_size=size, n_genes=50)
    root = write_synthetic_cohort(folder, cfg).parent
    return sorted((root / "images").rglob("*.bmp"))[:count]


def clam_style(images: list[Path], coords: list[np.ndarray], model: torch.nn.Module, patch: int, batch: int):
    """CLAM's loop: PIL patches, per-patch torchvision transforms, eager fp32 NCHW forward. Returns features, s."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    device = next(model.parameters()).device
    features, pending = [], []
    start = time.perf_counter()
    with torch.inference_mode():
        for path, image_coords in zip(images, coords, strict=True):
            image = Image.open(path).convert("RGB")
            for x, y in image_coords.tolist():
                pending.append(transform(image.crop((x, y, x + patch, y + patch))))
                if len(pending) == batch:
                    features.append(model(torch.stack(pending).to(device)).cpu())
                    pending = []
        if pending:
            features.append(model(torch.stack(pending).to(device)).cpu())
    return torch.cat(features).numpy(), time.perf_counter() - start


def split_rounds(tiles_per_image: list[int], rounds: int, batch: int) -> list[range]:
    """Consecutive image ranges of about equal tile counts, each ending on a multiple of ``batch`` if one is near."""
    total = np.cumsum(tiles_per_image)
    bounds = [0]
    for r in range(1, rounds):
        target = total[-1] * r / rounds
        near = [i for i in range(bounds[-1] + 1, len(total)) if abs(total[i - 1] - target) <= 2 * batch]
        bounds.append(min(near, key=lambda i: (total[i - 1] % batch, abs(total[i - 1] - target))))
    bounds.append(len(total))
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def matmul_gflops(device: torch.device, dtype: torch.dtype, n: int = 4096, reps: int = 6) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    synchronize(device)
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def project_config(root: Path, cache: Path, args: argparse.Namespace) -> Config:
    return config_from_dict(
        {
            "data": {"images": {"root": str(root)}},
            "backbone": {"arch": "resnet50", "weights": "none"},
            "features": {
                "cache_dir": str(cache),
                "batch_size": args.batch_size,
                "num_workers": args.workers,
                "device": args.device,
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128, help="timed images (after the warm-up images)")
    parser.add_argument("--warmup", type=int, default=8, help="warm-up images, not timed")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of (a), (b) and matmul, in turn")
    parser.add_argument("--image-size", type=int, default=450, help="side of the synthetic images (C-NMC: 450)")
    parser.add_argument("--data", type=Path, help="use the image files in this folder instead of synthetic ones")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="featurize's DataLoader workers")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wanted = args.warmup + args.images
        images = args.data if args.data is not None else tmp / "cohort"  # the caches are written beside it
        if args.data is not None:
            files = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in EXTENSIONS)[:wanted]
        else:
            files = synthetic_images(images, wanted, args.image_size)
        if len(files) < wanted:
            raise SystemExit(f"need {wanted} images, found {len(files)}")
        warm, timed = files[: args.warmup], files[args.warmup :]
        config = project_config(images, tmp / "cache", args)
        patch = config.tiles.patch_size
        coords = [tile_image(read_rgb(p), config.tiles, p).coords for p in files]  # CLAM's patching step

        extractor = FeatureExtractor.from_config(config)
        device = extractor.device
        eager, _ = load_backbone(BackboneConfig(arch="resnet50", weights="none"))
        eager.fc = torch.nn.Identity()
        eager = eager.to(device)

        clam_style(warm, coords[: args.warmup], eager, patch, args.batch_size)
        featurize(warm, project_config(images, tmp / "warm-cache", args), progress=False, extractor=extractor)

        rows, eager_features = [], []
        timed_coords = coords[args.warmup :]
        for chunk in split_rounds([len(c) for c in timed_coords], args.rounds, args.batch_size):
            paths = [timed[i] for i in chunk]
            features, eager_s = clam_style(paths, [timed_coords[i] for i in chunk], eager, patch, args.batch_size)
            report = featurize(paths, config, progress=False, extractor=extractor)
            assert report.tiles == len(features), (report.tiles, len(features))
            bf16 = matmul_gflops(device, torch.bfloat16) if bf16_supported(device) else float("nan")
            fp32 = matmul_gflops(device, torch.float32, reps=3)
            peak = bf16 if extractor.precision == "bf16" else fp32
            rows.append((len(features), eager_s, report.seconds, fp32, bf16, peak / GFLOP_PER_TILE))
            eager_features.append(features)
        eager_features = np.concatenate(eager_features)

        settings = cache_settings(config.tiles, extractor.info, extractor.precision)
        cache = FeatureCache(config.features.cache_dir, settings)
        ours = np.concatenate([cache.read(file_sha256(p), "pooled").features for p in timed])
        cosine = (ours * eager_features).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(eager_features, axis=1)

    table = np.array(rows)
    tiles, eager_s, our_s = table[:, 0].sum(), table[:, 1].sum(), table[:, 2].sum()
    eager_rates, our_rates, rooflines = table[:, 0] / table[:, 1], table[:, 0] / table[:, 2], table[:, 5]
    ratio = float(np.median(our_rates / eager_rates))
    fraction = float(np.median(our_rates / rooflines))
    source = f"files from {args.data}" if args.data else f"synthetic {args.image_size}x{args.image_size}, mixed styles"
    print(f"{len(timed)} images ({source}), {int(tiles)} tiles of {patch}px, batch {args.batch_size}, device {device}")
    header = ("round", "tiles", "(a) tiles/s", "(b) tiles/s", "ratio", "bf16 GFLOP/s", "fp32 GFLOP/s", "roofline")
    print("".join(f"{h:>13}" for h in (*header, "fraction")))
    for i, (n, _, _, fp32, bf16, roofline) in enumerate(rows):
        values = (i + 1, int(n), eager_rates[i], our_rates[i], our_rates[i] / eager_rates[i], bf16, fp32, roofline)
        print("".join(f"{v:>13.4g}" for v in (*values, our_rates[i] / roofline)))
    print(f"(a) CLAM-style eager fp32 NCHW, total:          {eager_s:6.1f} s  {tiles / eager_s:6.1f} tiles/s")
    print(
        f"(b) leukmodel featurize, files -> cache, total: {our_s:6.1f} s  {tiles / our_s:6.1f} tiles/s  "
        f"({extractor.precision}, channels-last, {args.workers} workers)"
    )
    print(f"ratio (b)/(a), median over rounds:              {ratio:.2f}  (goal >= 3.5)")
    print(f"(b) fraction of the roofline, median:           {fraction:.2f}  (goal >= 0.7; {GFLOP_PER_TILE} GFLOP/tile)")
    print(f"same features, cosine(a, b): mean {cosine.mean():.4f}, min {cosine.min():.4f}")
    print(f"load average (1 min) before/after:              {load_before:.1f} / {os.getloadavg()[0]:.1f}")
    print(f"ratio_vs_eager={ratio:.2f} roofline_fraction={fraction:.2f}")


if __name__ == "__main__":
    main()
