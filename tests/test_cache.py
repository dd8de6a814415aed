"""The feature cache: keyed by content and settings, resumable after a kill, shared by concurrent processes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch.multiprocessing  # noqa: F401  (registers the shared-memory reductions of tensors on ForkingPickler)
import yaml
from click.testing import CliRunner

from leukmodel.cli import cli
from leukmodel.config import BackboneConfig, Config, SyntheticConfig, TilesConfig, config_from_dict
from leukmodel.data import build_cohort
from leukmodel.data.cohort import Cohort, Sample
from leukmodel.data.images import read_rgb
from leukmodel.data.synthetic import write_synthetic_cohort
from leukmodel.errors import ImageError
from leukmodel.features import (
    FeatureCache,
    FeatureExtractor,
    MissingFeaturesError,
    cache_settings,
    featurize,
    file_sha256,
    load_backbone,
    load_bags,
    read_h5_bag,
)
from leukmodel.features.cache import cache_identity, file_digests
from leukmodel.features.featurize import _Item
from leukmodel.preprocessing import NoForegroundError, tile_image

SMALL = {"arch": "resnet18", "weights": "none"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_config(cohort_config: Path, cache: Path, *, tiles=None, features=None, backbone=None) -> Config:
    """The synthetic cohort's config with a small backbone, fp32 (exact comparisons) and the given cache."""
    values = yaml.safe_load(cohort_config.read_text())
    values["backbone"] = {**SMALL, **(backbone or {})}
    values["tiles"] = {**values.get("tiles", {}), **(tiles or {})}
    values["features"] = {"cache_dir": str(cache), "precision": "fp32", "num_workers": 0, "batch_size": 8}
    values["features"].update(features or {})
    return config_from_dict(values, base_dir=cohort_config.parent)


@pytest.fixture(scope="module")
def cohort_config(tmp_path_factory) -> Path:
    """A small synthetic cohort: 8 patients x 2 images of 128 px (64 px tiles), both styles."""
    cfg = SyntheticConfig(patients=8, images_per_patient=2, image_size=128, n_genes=50)
    return write_synthetic_cohort(tmp_path_factory.mktemp("cohort"), cfg)


@pytest.fixture(scope="module")
def images(cohort_config) -> list[Path]:
    return sorted((cohort_config.parent / "images").rglob("*.bmp"))


def entries(config: Config) -> list[Path]:
    return sorted(Path(config.features.cache_dir).rglob("pooled/*/*.h5"))


def test_warm_run_computes_nothing_and_bags_match_direct_extraction(cohort_config, images, tmp_path, caplog):
    config = make_config(cohort_config, tmp_path / "cache")
    cold = featurize(images, config, progress=False)
    assert (cold.images, cold.hits, cold.misses) == (16, 0, 16) and cold.forward_passes == -(-cold.tiles // 8)
    assert not cold.backbone.pretrained and cold.precision == "fp32"
    warm = featurize(images, config, progress=False)
    assert (warm.hits, warm.misses, warm.tiles, warm.forward_passes) == (16, 0, 0, 0)

    cohort = build_cohort(config)
    with caplog.at_level(logging.INFO, logger="leukmodel.features"):
        bags = load_bags(cohort, config)
    assert set(bags) == set(cohort.sample_ids) and not bags.skipped
    tiles = sum(len(bag) for bag in bags.values())
    assert caplog.messages[0] == "reading the pooled features of 16 images"
    assert re.fullmatch(rf"8 bags of {tiles} tiles read from the cache .* in \d+\.\d s", caplog.messages[1])
    extractor = FeatureExtractor.from_config(config)
    sample = cohort.samples[0]
    bag = bags[sample.sample_id]
    direct = [tile_image(read_rgb(path), config.tiles, path) for path in sample.images]
    np.testing.assert_allclose(bag.features, np.concatenate([extractor.pooled(t.images) for t in direct]), atol=1e-4)
    np.testing.assert_array_equal(bag.coords, np.concatenate([t.coords for t in direct]))
    assert bag.image_index.tolist() == [i for i, t in enumerate(direct) for _ in range(len(t))]
    assert bag.features.shape[1] == 512 and bag.images == sample.images


def test_key_changes_with_what_changes_features_only(tmp_path):
    _, info = load_backbone(BackboneConfig(**SMALL))
    _, reseeded = load_backbone(BackboneConfig(**SMALL, seed=1))
    _, larger = load_backbone(BackboneConfig(arch="resnet50", weights="none"))

    def key(tiles: TilesConfig | None = None, backbone=info, precision="fp32", root=tmp_path) -> str:
        return FeatureCache(root, cache_settings(tiles or TilesConfig(), backbone, precision)).key

    base = key()
    changed = [
        key(TilesConfig(patch_size=112)),
        key(TilesConfig(overlap=0.25)),
        key(TilesConfig(min_foreground=0.2)),
        key(TilesConfig(small_image="reject")),
        key(backbone=reseeded),
        key(backbone=larger),
        key(precision="bf16"),
    ]
    assert base not in changed and len(set(changed)) == len(changed)
    assert key(TilesConfig(on_no_foreground="skip")) == base
    assert key(root=tmp_path / "elsewhere") == base


def test_settings_that_do_not_change_features_reuse_the_cache(cohort_config, images, tmp_path):
    featurize(images, make_config(cohort_config, tmp_path / "cache"), progress=False)
    same = make_config(
        cohort_config,
        tmp_path / "cache",
        tiles={"on_no_foreground": "skip"},
        features={"batch_size": 3, "num_workers": 2, "device": "cpu"},
    )
    assert featurize(images, same, progress=False).misses == 0
    other = make_config(cohort_config, tmp_path / "cache", tiles={"min_foreground": 0.3})
    assert featurize(images, other, progress=False).hits == 0


def test_entries_are_found_by_content_not_by_name(cohort_config, images, tmp_path):
    config = make_config(cohort_config, tmp_path / "cache")
    featurize(images[:2], config, progress=False)
    renamed = tmp_path / "renamed.bmp"
    shutil.copy(images[0], renamed)
    assert featurize([renamed], config, progress=False).hits == 1
    edited = bytearray(images[0].read_bytes())
    edited[-1] ^= 0xFF  # one pixel channel of the last row
    renamed.write_bytes(bytes(edited))
    assert featurize([renamed], config, progress=False).misses == 1


def test_batches_span_images_and_workers_decode(cohort_config, images, tmp_path):
    serial = make_config(cohort_config, tmp_path / "a", features={"batch_size": 32})
    parallel = make_config(cohort_config, tmp_path / "b", features={"batch_size": 5, "num_workers": 2})
    one = featurize(images, serial, progress=False)
    two = featurize(images, parallel, progress=False)
    assert one.tiles == two.tiles and one.forward_passes == -(-one.tiles // 32)
    for a, b in zip(entries(serial), entries(parallel), strict=True):
        assert a.name == b.name
        np.testing.assert_allclose(read(a), read(b), atol=1e-4)


def test_a_worker_hands_its_tiles_over_in_shared_memory(cohort_config, images):
    tiles = tile_image(read_rgb(images[0]), TilesConfig(patch_size=64), images[0])
    item = _Item(images[0], "digest", tiles)
    assert len(ForkingPickler.dumps(item)) < tiles.images.nbytes / 10, "the tile images went through the pipe"
    back = pickle.loads(pickle.dumps(item))
    np.testing.assert_array_equal(back.tiles.images, tiles.images)
    np.testing.assert_array_equal(back.tiles.coords, tiles.coords)
    assert (back.path, back.digest, back.tiles.image_size) == (item.path, item.digest, tiles.image_size)


def test_a_failed_cache_write_is_raised_and_the_other_entries_stay(cohort_config, images, tmp_path, monkeypatch):
    config = make_config(cohort_config, tmp_path / "cache", features={"batch_size": 4})
    write, failing = FeatureCache.write, images[3]

    def disk_full_for_one_image(self, digest, level, features, coords, attrs):
        if attrs["source"] == str(failing):
            raise OSError(28, "No space left on device")
        return write(self, digest, level, features, coords, attrs)

    monkeypatch.setattr(FeatureCache, "write", disk_full_for_one_image)
    with pytest.raises(OSError, match="No space left on device"):
        featurize(images[:6], config, progress=False)
    assert len(entries(config)) == 5
    monkeypatch.undo()
    assert featurize(images[:6], config, progress=False).misses == 1


def read(path: Path) -> np.ndarray:
    return read_h5_bag(path)[0]


def test_layer3_maps_cached_in_half_precision(cohort_config, images, tmp_path):
    pooled_only = make_config(cohort_config, tmp_path / "cache")
    featurize(images[:3], pooled_only, progress=False)
    cohort = build_cohort(pooled_only)
    with pytest.raises(MissingFeaturesError, match=r"no layer3 features .* with features.store_layer3: true"):
        load_bags(cohort, pooled_only, level="layer3")
    both = make_config(cohort_config, tmp_path / "cache", features={"store_layer3": True})
    report = featurize(images, both, progress=False)
    assert report.misses == 16  # the three pooled-only entries lacked their maps
    bags = load_bags(cohort, both, level="layer3")
    bag = next(iter(bags.values()))
    assert bag.features.dtype == np.float16 and bag.features.shape[1:] == (256, 4, 4)
    assert len(bag) == len(load_bags(cohort, both)[next(iter(bags))])


def test_missing_entries_say_to_run_featurize(cohort_config, images, tmp_path):
    config = make_config(cohort_config, tmp_path / "cache")
    featurize(images[:-1], config, progress=False)
    with pytest.raises(MissingFeaturesError, match=r"1 of 16 image\(s\) have no pooled features.*leukmodel featurize"):
        load_bags(build_cohort(config), config)


def test_image_without_foreground_is_an_error_or_a_recorded_skip(cohort_config, images, tmp_path):
    blank = tmp_path / "blank.bmp"
    cv2.imwrite(str(blank), np.full((128, 128, 3), 235, np.uint8))
    strict = make_config(cohort_config, tmp_path / "cache")
    with pytest.raises(NoForegroundError, match=r"blank\.bmp: no foreground found"):
        featurize([images[0], blank], strict, progress=False)
    assert len(entries(strict)) == 1  # what was done before the error stays

    lenient = make_config(cohort_config, tmp_path / "cache", tiles={"on_no_foreground": "skip"})
    report = featurize([images[0], blank], lenient, progress=False)
    assert [s.path for s in report.skipped] == [blank] and "no foreground" in report.skipped[0].reason
    again = featurize([blank], lenient, progress=False)
    assert again.hits == 1 and again.forward_passes == 0 and len(again.skipped) == 1  # the skip is remembered
    with pytest.raises(NoForegroundError, match=r"blank\.bmp"):
        featurize([blank], strict, progress=False)


def test_sample_left_without_tiles_is_reported_not_an_empty_bag(cohort_config, tmp_path):
    blank = tmp_path / "blank.bmp"
    cv2.imwrite(str(blank), np.zeros((128, 128, 3), np.uint8))
    config = make_config(cohort_config, tmp_path / "cache", tiles={"on_no_foreground": "skip"})
    featurize([blank], config, progress=False)
    cohort = Cohort(name="c", samples=[Sample("s1", "p1", "ALL", (blank,))], classes=("ALL",), pairing="image_only")
    bags = load_bags(cohort, config)
    assert "s1" not in bags and "no foreground" in bags.skipped["s1"]


@pytest.mark.parametrize("workers", [0, 2])
def test_unusable_file_is_named_and_finished_entries_stay(cohort_config, images, tmp_path, workers):
    broken = tmp_path / "UID_9_9_1_all.bmp"
    broken.write_bytes(images[0].read_bytes()[:5000])
    config = make_config(cohort_config, tmp_path / "cache", features={"batch_size": 1, "num_workers": workers})
    with pytest.raises(ImageError, match=r"UID_9_9_1_all\.bmp: cannot decode the image"):
        featurize([images[1], images[2], broken, images[3]], config, progress=False)
    assert len(entries(config)) == 2
    with pytest.raises(ImageError, match=r"gone\.bmp: image file not found"):
        featurize([tmp_path / "gone.bmp"], config, progress=False)


WORKER = """
import sys
from pathlib import Path
import yaml
from leukmodel.config import config_from_dict
from leukmodel.features import featurize
values = yaml.safe_load(Path(sys.argv[1]).read_text())
config = config_from_dict(values, base_dir=Path(sys.argv[1]).parent)
report = featurize([Path(p) for p in sys.argv[2:]], config, progress=False)
print(report.misses, report.hits)
"""


def spawn(config: Config, paths: list[Path], folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    config_path = config.to_yaml(folder / "config.yaml")
    command = [sys.executable, "-c", WORKER, str(config_path), *map(str, paths)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_killed_run_resumes_computing_only_what_is_missing(cohort_config, images, tmp_path):
    config = make_config(cohort_config, tmp_path / "cache", features={"batch_size": 1})
    process = spawn(config, images, tmp_path / "job")
    deadline = time.monotonic() + 120
    while len(entries(config)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGSTOP)  # freeze it where it is, then kill it: no chance to finish or clean up
    done = len(entries(config))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    assert 2 <= done < len(images)

    resumed = featurize(images, config, progress=False)
    assert (resumed.hits, resumed.misses) == (done, len(images) - done)
    reference = make_config(cohort_config, tmp_path / "reference", features={"batch_size": 1})
    featurize(images, reference, progress=False)
    for a, b in zip(entries(config), entries(reference), strict=True):
        np.testing.assert_allclose(read(a), read(b), atol=1e-4)


def test_two_processes_fill_one_cache_at_once(cohort_config, images, tmp_path):
    config = make_config(cohort_config, tmp_path / "cache")
    first = spawn(config, images[:10], tmp_path / "one")
    second = spawn(config, images[6:][::-1], tmp_path / "two")
    for process in (first, second):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    after = featurize(images, config, progress=False)
    assert after.hits == 16 and after.forward_passes == 0  # images 6-9 were computed by both, at once
    assert all(read(path).shape[1] == 512 for path in entries(config))
    assert not list(Path(config.features.cache_dir).rglob("*.tmp"))


def test_orphans_of_killed_writers_are_cleared(cohort_config, images, tmp_path):
    config = make_config(cohort_config, tmp_path / "cache")
    report = featurize(images[:1], config, progress=False)
    orphan = report.cache_dir / "pooled" / "ab" / ".abcd.h5.123.deadbeef.tmp"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"\x89HDF half written")
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    assert featurize(images[:2], config, progress=False).misses == 1
    assert not orphan.exists()
    assert json.loads((report.cache_dir / "settings.json").read_text())["backbone"]["arch"] == "resnet18"


def test_featurize_command(cohort_config, tmp_path):
    config = make_config(cohort_config, tmp_path / "cache")
    path = config.to_yaml(tmp_path / "config.yaml")
    first = CliRunner().invoke(cli, ["featurize", str(path), "--no-progress"])
    assert first.exit_code == 0, first.output
    assert "16 images: 0 cached, 16 computed" in first.output and "NOT pretrained" in first.output
    second = CliRunner().invoke(cli, ["featurize", str(path), "--no-progress"])
    assert "16 images: 16 cached, 0 computed (0 tiles, 0 forward passes)" in second.output


def test_cache_identity_is_stable_and_changes_when_the_folder_is_remade(tmp_path):
    root = tmp_path / "cache"
    first = cache_identity(root)
    assert root.is_dir() and cache_identity(root) == first
    shutil.rmtree(root)
    assert cache_identity(root) != first
    assert [p.name for p in root.iterdir()] == ["cache-id"]


def test_file_digests_hash_each_file_once_in_order_in_threads(tmp_path):
    rng = np.random.default_rng(0)
    files = []
    for k, size in enumerate([0, 1, 1 << 20, (1 << 20) + 7, 3 << 20]):  # empty, and across the 1 MB chunks
        files.append(tmp_path / f"f{k}.bin")
        files[-1].write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    expected = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
    found = file_digests([*files[::-1], files[0]], workers=3)
    assert list(found) == files[::-1] and found == expected
    assert all(file_sha256(path) == digest for path, digest in expected.items())
    with pytest.raises(ImageError, match=r"gone\.bmp: image file not found"):
        file_digests([files[0], tmp_path / "gone.bmp", tmp_path / "also-gone.bmp"])
