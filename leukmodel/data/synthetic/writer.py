"""Writing a synthetic cohort in the C-NMC and CuMiDa layouts, with a pairing manifest and a ready config.

Layout under the output folder (paths inside ``config.yaml`` are relative, so the same seed gives the same bytes
wherever the cohort is written)::

    leukmodel-synthetic.json                  marker: generator, knobs, planted signal, marker genes and probes
    images/fold_<k>/<class>/UID_<patient>_<image>_1_<class>.bmp
    expression/synthetic_cumida.csv           samples, type, one column per probe
    expression/annotation.csv                 ID, Gene Symbol
    manifest.csv                              patient_id, image_subject, expression_sample
    config.yaml                               a leukmodel Config reading all of the above

``config.yaml`` is written last: a folder without it holds an interrupted cohort.
"""

from __future__ import annotations

import json
from collections import Counter
from os import PathLike
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import yaml

from leukmodel.config import SyntheticConfig, config_from_dict
from leukmodel.data.synthetic.cells import GIEMSA, Style, draw_image, jitter_stain
from leukmodel.data.synthetic.expression import (
    expression_profiles,
    expression_table,
    marker_probes,
    platform,
)
from leukmodel.data.synthetic.marker import MARKER_NAME
from leukmodel.data.synthetic.plan import (
    STREAM_IMAGE,
    STREAM_STAIN,
    Patient,
    class_signals,
    plan_patients,
    stream,
)
from leukmodel.errors import LeukInputError
from leukmodel.owned import RECORD_NAME, NotOursError, OwnedFiles

GENERATOR_VERSION = "1"
"""Bumped whenever the same config would give different files."""

IMAGES = "images"
EXPRESSION = "expression/synthetic_cumida.csv"
ANNOTATION = "expression/annotation.csv"
MANIFEST = "manifest.csv"
CONFIG = "config.yaml"
_READ_FOLDERS = (IMAGES, "expression")
"""Folders the cohort's readers take whole: they must hold the generator's files only."""

SIGNAL_IN_WORDS = {
    "morphology": (
        "blast (acute): large round nucleus, N:C area ratio ~0.8, fine smooth chromatin, 0-3 pale nucleoli "
        "(1.5 on average), thin cytoplasm rim, slightly larger cell; mature (chronic): small dense dark nucleus, "
        "N:C ~0.4, coarse clumped chromatin, no nucleoli, wide cytoplasm. The cell's position t = 0.5 + "
        "(group - 0.5) * signal runs from blast (0) to mature (1); signal 0 makes both groups the same."
    ),
    "expression": (
        "the marker module of the class's expression group is raised by 0.8-2.2 log2 units per probe "
        "x signal x the patient's module activity (~1 +- 0.25 noise); the other module stays at baseline."
    ),
    "independent_of_class": (
        "image style, cell position, stain batch (per patient) and jitter (per image), illumination, red cells, "
        "shape irregularity, blur and pixel noise; expression baselines, correlated noise modules and per-patient "
        "array offset; image folds"
    ),
}


def write_synthetic_cohort(out: str | PathLike[str], cfg: SyntheticConfig) -> Path:
    """Write the cohort described by ``cfg`` under ``out`` and return the path of its ``config.yaml``.

    A previous synthetic cohort in ``out`` is replaced: the files it wrote (recorded with their hashes in
    ``leukmodel-files.json``) are rewritten or removed, nothing else (``runs``, ``feature-cache`` and any file of
    yours are left alone).

    Raises:
        LeukInputError: ``out`` is a file, or a non-empty folder that holds no synthetic cohort.
        NotOursError: a file leukmodel did not write (or that was changed since) is in the way: inside ``images``
            or ``expression`` (the readers would take it in), or at a path the cohort writes; nothing is written.
    """
    out = Path(out).resolve()
    values = cohort_config(cfg)
    config_from_dict(values, base_dir=out, source=f"generated config for {out}")
    owned = _owned(out)
    patients = plan_patients(cfg)
    sample_ids = _sample_ids(cfg.patients)
    images = [image_path(p, i) for p in patients for i in range(1, cfg.images_per_patient + 1)]
    plan = [MARKER_NAME, *map(str, images), EXPRESSION, ANNOTATION, MANIFEST, CONFIG]
    stale = sorted(set(owned.files) - {owned.relative(p) for p in plan})
    owned.check(plan + stale, folders=_READ_FOLDERS)
    owned.remove([*stale, CONFIG])  # without config.yaml the folder reads as an interrupted cohort until done
    owned.claim(plan)

    owned.write_text(MARKER_NAME, json.dumps(describe(cfg, patients), indent=2) + "\n", save=False)
    for patient in patients:
        for image in range(1, cfg.images_per_patient + 1):
            pixels, _ = cohort_image(cfg, patient, image)
            path = image_path(patient, image)
            ok, data = cv2.imencode(".bmp", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
            if not ok:
                raise RuntimeError(f"OpenCV could not encode {out / path}")
            owned.write_bytes(path, data.tobytes(), save=False)

    chip = platform(cfg.n_genes)
    values_matrix = expression_profiles(
        patients, n_genes=cfg.n_genes, seed=cfg.seed, signal=cfg.signal, noise=cfg.noise
    )
    _write_csv(owned, EXPRESSION, expression_table(patients, sample_ids, values_matrix, cfg.n_genes), "%.4f")
    _write_csv(owned, ANNOTATION, chip.annotation())
    manifest = pd.DataFrame(
        {
            "patient_id": [str(p.number) for p in patients],
            "image_subject": [str(p.number) for p in patients],
            "expression_sample": sample_ids,
        }
    )
    _write_csv(owned, MANIFEST, manifest)
    owned.save()
    return owned.write_text(CONFIG, yaml.safe_dump(values, sort_keys=False))


def cohort_image(
    cfg: SyntheticConfig, patient: Patient, image: int, style: Style | None = None
) -> tuple[np.ndarray, Style]:
    """Pixels (RGB uint8) and style of image ``image`` (1-based) of ``patient``, exactly as the cohort holds it.

    ``style`` forces a style (for figures); the image is then the one the cohort would hold in that style.
    """
    rng = stream(cfg.seed, STREAM_IMAGE, patient.number, image)
    coin = rng.random()
    if style is None:
        style = ("segmented" if coin < 0.5 else "smear") if cfg.style == "mixed" else cfg.style
    stain = jitter_stain(GIEMSA, stream(cfg.seed, STREAM_STAIN, patient.number), cfg.noise)
    t = 0.5 + (patient.signal.morphology - 0.5) * cfg.signal
    return draw_image(rng, size=cfg.image_size, t=t, style=style, noise=cfg.noise, stain=stain), style


def image_path(patient: Patient, image: int) -> Path:
    """``images/fold_<k>/<class>/UID_<patient>_<image>_1_<class>.bmp`` (C-NMC naming, class in lower case)."""
    label = patient.label.lower()
    return Path(IMAGES, f"fold_{patient.fold}", label, f"UID_{patient.number}_{image}_1_{label}.bmp")


def tile_size(image_size: int) -> int:
    """224 px tiles from 448 px images on; below, the largest power of two that fits twice (at least 16)."""
    if image_size >= 448:
        return 224
    return max(16, 1 << int(np.log2(image_size / 2)))


def cohort_config(cfg: SyntheticConfig) -> dict[str, Any]:
    """The values of the cohort's ``config.yaml`` (relative paths only).

    The backbone has no pretrained weights (``weights: none``, seeded): the planted morphology is separable by
    a randomly initialised ResNet, the cohort runs offline, and every run on it is tagged ``pretrained=false``.
    """
    return {
        "name": f"synthetic-s{cfg.seed}",
        "seed": cfg.seed,
        "output_dir": "runs",
        "synthetic": {**cfg.model_dump(mode="json", exclude={"root"}), "root": "."},
        "data": {
            "images": {
                "format": "cnmc",
                "root": IMAGES,
                "bag_by": "subject",
                "class_map": {c.lower(): c for c in cfg.classes},
            },
            "expression": {
                "format": "cumida",
                "files": [EXPRESSION],
                "annotation": ANNOTATION,
                "annotation_probe_column": "ID",
                "annotation_symbol_column": "Gene Symbol",
            },
            "pairing": {"mode": "paired", "manifest": MANIFEST},
            "classes": list(cfg.classes),
        },
        "tiles": {"patch_size": tile_size(cfg.image_size)},
        "backbone": {"weights": "none"},
        "features": {"cache_dir": "feature-cache"},
    }


def describe(cfg: SyntheticConfig, patients: list[Patient]) -> dict[str, Any]:
    """The content of the marker file: what was generated and what signal was planted where."""
    counts = Counter(p.label for p in patients)
    probes = marker_probes(cfg.n_genes)
    chip = platform(cfg.n_genes)
    symbol = dict(zip(chip.probes, chip.symbols, strict=True))
    return {
        "generator": "leukmodel.data.synthetic",
        "version": GENERATOR_VERSION,
        "config": cfg.model_dump(mode="json", exclude={"root"}),
        "classes": {s.name: {**s.describe(), "patients": counts[s.name]} for s in class_signals(cfg.classes)},
        "signal": SIGNAL_IN_WORDS,
        "marker_genes": {module: list(dict.fromkeys(symbol[p] for p in ids)) for module, ids in probes.items()},
        "marker_probes": probes,
    }


def _sample_ids(n: int) -> list[str]:
    width = max(4, len(str(n)))
    return [f"SYN{i:0{width}d}" for i in range(1, n + 1)]


def is_written(out: str | PathLike[str], cfg: SyntheticConfig) -> bool:
    """Whether ``out`` already holds the cohort ``cfg`` describes, written by this generator version (its marker
    file records both), with its ``config.yaml``: then writing it again would only change file times."""
    out = Path(out)
    try:
        marker = json.loads((out / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    return (
        (out / CONFIG).is_file()
        and marker.get("version") == GENERATOR_VERSION
        and marker.get("config") == cfg.model_dump(mode="json", exclude={"root"})
    )


def _owned(out: Path) -> OwnedFiles:
    """The record of the files the generator wrote in ``out``, refusing folders that are not a synthetic cohort."""
    owned = OwnedFiles(out, "the synthetic cohort")
    if not out.exists() or not any(out.iterdir()):
        return owned
    if not (out / MARKER_NAME).is_file():
        raise LeukInputError(
            "folder is not empty and holds no synthetic cohort; not writing into it",
            file=out,
            expected=f"a new or empty folder, or one with {MARKER_NAME}",
        )
    if not owned.record_path.is_file():
        raise NotOursError(
            f"holds a synthetic cohort written by a leukmodel that did not record its files ({RECORD_NAME}), so "
            "it cannot tell them from yours; nothing was written",
            file=out,
            expected="a new folder (or delete the old cohort yourself)",
        )
    return owned


def _write_csv(owned: OwnedFiles, path: str, table: pd.DataFrame, float_format: str | None = None) -> None:
    text = table.to_csv(index=False, float_format=float_format, lineterminator="\n")
    owned.write_text(path, text, save=False)
