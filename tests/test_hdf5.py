"""CLAM/TRIDENT HDF5 bags: round trip, the layouts those tools write, named errors, and use as bags."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from leukmodel.config import config_from_dict
from leukmodel.data.cohort import Cohort, Sample
from leukmodel.features import BagFileError, MissingFeaturesError, load_bags, read_h5_bag, write_h5_bag


def test_round_trip(tmp_path):
    features = np.random.default_rng(0).normal(size=(5, 2048)).astype(np.float32)
    coords = np.array([[0, 0], [113, 0], [226, 0], [0, 113], [113, 113]])
    path = write_h5_bag(tmp_path / "slide.h5", features, coords, {"patch_size": 224, "source": tmp_path / "a.bmp"})
    back, back_coords, attrs = read_h5_bag(path)
    np.testing.assert_array_equal(back, features)
    np.testing.assert_array_equal(back_coords, coords)
    assert back_coords.dtype == np.int64 and attrs == {"patch_size": 224, "source": str(tmp_path / "a.bmp")}
    assert [p.name for p in tmp_path.iterdir()] == ["slide.h5"]  # written atomically, nothing left behind


def test_half_precision_maps_round_trip(tmp_path):
    maps = np.random.default_rng(0).normal(size=(3, 1024, 14, 14)).astype(np.float16)
    back, _, _ = read_h5_bag(write_h5_bag(tmp_path / "maps.h5", maps, np.zeros((3, 2))))
    assert back.dtype == np.float16 and back.shape == (3, 1024, 14, 14)
    np.testing.assert_array_equal(back, maps)


def test_reads_what_clam_and_trident_write(tmp_path):
    with h5py.File(tmp_path / "clam.h5", "w") as f:  # CLAM: features (N, 1024), coords (N, 2)
        f["features"] = np.ones((4, 1024), np.float32)
        f["coords"] = np.arange(8).reshape(4, 2)
    with h5py.File(tmp_path / "trident.h5", "w") as f:  # TRIDENT: attributes on coords, features (1, N, D) seen too
        f["features"] = np.ones((1, 3, 1536), np.float32)
        f["coords"] = np.arange(6).reshape(3, 2)
        f["coords"].attrs["patch_size"] = 256
        f["coords"].attrs["name"] = b"slide-1"
    features, coords, _ = read_h5_bag(tmp_path / "clam.h5")
    assert features.shape == (4, 1024) and coords.shape == (4, 2)
    features, coords, attrs = read_h5_bag(tmp_path / "trident.h5")
    assert features.shape == (3, 1536) and attrs == {"patch_size": 256, "name": "slide-1"}


def test_bad_bag_files_are_named(tmp_path):
    with h5py.File(tmp_path / "no_coords.h5", "w") as f:
        f["features"] = np.ones((2, 8))
    with pytest.raises(BagFileError, match=r"no_coords\.h5: datasets \['features'\] found \(expected an HDF5 bag"):
        read_h5_bag(tmp_path / "no_coords.h5")
    with h5py.File(tmp_path / "uneven.h5", "w") as f:
        f["features"] = np.ones((2, 8))
        f["coords"] = np.ones((3, 2))
    with pytest.raises(BagFileError, match=r"uneven\.h5: 'features' has shape \(2, 8\) and 'coords' \(3, 2\)"):
        read_h5_bag(tmp_path / "uneven.h5")
    (tmp_path / "text.h5").write_text("features,coords\n")
    with pytest.raises(BagFileError, match=r"text\.h5: not a readable HDF5 file"):
        read_h5_bag(tmp_path / "text.h5")
    with pytest.raises(BagFileError, match=r"absent\.h5: feature bag not found"):
        read_h5_bag(tmp_path / "absent.h5")


def test_existing_bags_load_as_a_cohort_s_bags(tmp_path):
    bags_dir = tmp_path / "trident"
    write_h5_bag(bags_dir / "UID_1_1_1_all.h5", np.ones((2, 16), np.float32), [[0, 0], [5, 5]])
    write_h5_bag(bags_dir / "UID_1_2_1_all.h5", np.zeros((3, 16), np.float32), [[1, 1], [2, 2], [3, 3]])
    images = (tmp_path / "all" / "UID_1_1_1_all.bmp", tmp_path / "all" / "UID_1_2_1_all.bmp")
    cohort = Cohort(name="c", samples=[Sample("1", "1", "ALL", images)], classes=("ALL",), pairing="image_only")
    config = config_from_dict({"data": {"images": {"root": str(tmp_path)}}, "features": {"h5_dir": str(bags_dir)}})
    bag = load_bags(cohort, config)["1"]
    assert bag.features.shape == (5, 16) and bag.image_index.tolist() == [0, 0, 1, 1, 1]
    assert bag.coords.tolist() == [[0, 0], [5, 5], [1, 1], [2, 2], [3, 3]] and bag.images == images
    (bags_dir / "UID_1_2_1_all.h5").unlink()
    with pytest.raises(MissingFeaturesError, match=r"UID_1_2_1_all\.bmp: 1 of 2 image\(s\) have no pooled features"):
        load_bags(cohort, config)
