"""Streamed layer3 bags: maps read from cache files per batch, the same training as maps in memory, bounded memory."""

from __future__ import annotations

import pickle
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from test_training import COHORT, config

from leukmodel.features import StreamedMaps, write_h5_bag
from leukmodel.features.hdf5 import BagFileError
from leukmodel.models import build_model
from leukmodel.training import run_trial
from leukmodel.training.trainer import BagItem, fit, layer4_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TILE = (256, 2, 2)  # resnet18 layer3 maps of 32 px tiles


@dataclass
class Bag:
    features: np.ndarray | StreamedMaps


def write_streamed(maps: np.ndarray, folder, name: str, parts: int = 2) -> StreamedMaps:
    """``maps`` written as ``parts`` cache-like entries (a bag of several images) and streamed from them."""
    pieces = []
    for k, chunk in enumerate(np.array_split(maps, parts)):
        path = write_h5_bag(folder / f"{name}-{k}.h5", chunk, np.zeros((len(chunk), 2), np.int64))
        pieces.append(StreamedMaps((path,), (len(chunk),), chunk.shape[1:], chunk.dtype))
    return StreamedMaps.join(pieces)


def finetune_config(**training):
    return config(
        training={"max_epochs": 2, "finetune_layer4": True, "max_tiles_per_bag": 4, **training},
        backbone={"arch": "resnet18", "weights": "none"},
        cv={"models": ["image"]},
    )


def test_streamed_maps_read_only_the_rows_asked_for(tmp_path):
    maps = np.random.default_rng(0).normal(size=(7, *TILE)).astype(np.float16)
    streamed = write_streamed(maps, tmp_path, "bag", parts=3)
    assert streamed.shape == maps.shape and len(streamed) == 7 and streamed.dtype == np.float16
    np.testing.assert_array_equal(streamed.read(), maps)
    rows = np.array([0, 2, 3, 6])  # across the three files
    np.testing.assert_array_equal(streamed.read(rows), maps[rows])
    assert len(pickle.dumps(streamed)) < maps.nbytes / 10, "a streamed bag carries paths, not maps"
    (tmp_path / "bag-1.h5").unlink()
    with pytest.raises(BagFileError, match="bag-1.h5"):
        streamed.read(rows)


def test_training_on_streamed_maps_is_training_on_maps_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    in_memory = {
        s.sample_id: Bag(rng.normal(size=(int(rng.integers(3, 9)), *TILE)).astype(np.float16)) for s in COHORT.samples
    }
    streamed = {sid: Bag(write_streamed(bag.features, tmp_path, sid)) for sid, bag in in_memory.items()}
    cfg = finetune_config(bags_per_step=2)
    expected = run_trial("image", 0, COHORT, in_memory, cfg)
    found = run_trial("image", 0, COHORT, streamed, cfg)
    assert found.history == expected.history
    pd_columns = [c for c in expected.predictions.columns if c.startswith("prob_")]
    np.testing.assert_array_equal(found.predictions[pd_columns].to_numpy(), expected.predictions[pd_columns].to_numpy())
    for key, value in expected.state_dict.items():
        torch.testing.assert_close(found.state_dict[key], value, rtol=0, atol=0)


def epoch_peak(n_bags: int, path, tile: tuple[int, ...], cfg) -> int:
    """Peak traced memory of one training epoch on ``n_bags`` streamed bags of 9 tiles (all reading one entry)."""
    maps = StreamedMaps((path,), (9,), tile, np.dtype(np.float16))
    items = [BagItem(f"s{k}", maps, None, k % 2) for k in range(n_bags)]
    encoder, dim = layer4_encoder(cfg, pretrained=True)
    model = build_model("image", 2, dim, 0, cfg.model, None, encoder)
    tracemalloc.start()
    try:
        fit(model, items, [], cfg, torch.device("cpu"), np.random.default_rng(0))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_training_epoch_holds_one_batch_of_maps_whatever_the_number_of_bags(tmp_path):
    # Maps of 8 x 8 (128 px tiles), so that what an epoch would hold if it kept its bags (MBs) dwarfs what
    # tracemalloc also counts from other threads of the process (pytest-xdist's, a few hundred KB at times).
    tile_shape = (256, 8, 8)
    tile = np.random.default_rng(0).normal(size=(9, *tile_shape)).astype(np.float16)
    path = write_h5_bag(tmp_path / "entry.h5", tile, np.zeros((9, 2), np.int64))
    cfg = finetune_config(max_epochs=1, bags_per_step=4)
    small, large = epoch_peak(8, path, tile_shape, cfg), epoch_peak(96, path, tile_shape, cfg)
    sampled = cfg.training.max_tiles_per_bag * tile[0].nbytes  # the maps one bag's step reads
    assert large < 96 * sampled / 4, f"peak {large} B against {96 * sampled} B of maps sampled from all bags"
    grown = large - small
    assert grown < 88 * sampled / 10, f"peak grew by {grown} B from 8 to 96 bags ({sampled} B of maps per bag)"
