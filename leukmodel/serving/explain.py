"""Explanation figures of a served prediction, made with :mod:`leukmodel.explain` on the prediction's own bag.

Files written into the output folder::

    explanation.json        sample, predicted class, probabilities, model, missing modality, figures and captions
    mil_attention.png       MIL attention over the tiles, on the original images       (image models)
    gradcam.png             signed Grad-CAM (layer4) of the images' tiles, on the images (image models)
    genomic_to_image.png    the genomic query's attention over the tiles, on the images (fusion)
    image_to_genomic.png    tiles x genomic tokens attention heatmap                    (fusion)
    shap_genes.png          SHAP of the top genes for the predicted class                (expression models)
    top_tiles.csv           rank, row, image, x, y, mil_attention[, genomic_to_image]
    top_genes.csv           class, rank, probe, symbol, shap, expression, vs_background

A served model carries no training profiles, so SHAP's baseline is the training-mean profile (one background
row) instead of a draw of training samples: the attributions explain the prediction against the average
training sample.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from leukmodel.config import BackboneConfig
from leukmodel.data.images import decode_rgb
from leukmodel.explain import CAPTIONS, BagPixels
from leukmodel.explain.sample import (
    EXPLANATION_JSON,
    TOP_GENES,
    TOP_TILES,
    GeneInputs,
    TileInputs,
    explain_bag,
)
from leukmodel.features.backbone import load_backbone
from leukmodel.features.bags import Bag
from leukmodel.owned import owned_folder
from leukmodel.serving.expression import training_means
from leukmodel.serving.inputs import SampleInput
from leukmodel.serving.prediction import Prediction
from leukmodel.serving.predictor import Predictor

SHAP_CAPTION = (
    "SHAP (expected gradients through the log2 / z-score / PCA layer) of the genes with the largest effect on the "
    "predicted class's logit; baseline: the training-mean profile."
)


def explain_prediction(
    predictor: Predictor,
    prediction: Prediction,
    sample: SampleInput,
    out_dir: str | PathLike[str],
    *,
    top_tiles: int | None = None,
) -> dict[str, Path]:
    """Write the explanation of ``prediction`` (made by ``predictor`` for ``sample``) into ``out_dir``.

    Grad-CAM runs on the served backbone's weights (in float32) through the model that answered; SHAP uses that
    model's ``explain.shap_samples`` and ``explain.top_genes`` from its training config
    (:func:`~leukmodel.explain.sample.explain_bag`, the sequence of every explanation). Returns the figure kind
    -> PNG path.
    """
    out = Path(out_dir)
    owned = owned_folder(out, f"the explanation of {prediction.sample_id}")
    out.mkdir(parents=True, exist_ok=True)
    bundle, model = predictor.bundles[prediction.model], predictor.models[prediction.model]
    config = bundle.run_config
    device = predictor.device
    encoded = prediction.bag
    features = None if encoded is None else torch.from_numpy(encoded.features).to(device)
    expression = None if prediction.expression is None else torch.from_numpy(prediction.expression).to(device)
    tiles = genes = None
    if encoded is not None:
        bag = Bag(encoded.features, encoded.coords, encoded.image_index, tuple(Path(n) for n in encoded.images))
        used = np.unique(encoded.image_index)
        pixels = BagPixels(
            {int(k): decode_rgb(sample.images[k].data, sample.images[k].name) for k in used}, encoded.tiles
        )
        backbone, _ = load_backbone(
            BackboneConfig(arch=predictor.spec.backbone["arch"], weights=predictor.backbone_weights)
        )
        tiles = TileInputs(bag, pixels, backbone, top_tiles or predictor.spec.top_tiles, full_paths=True)
    if expression is not None:
        means = training_means(bundle.genomic_transform).astype(np.float32)
        genes = GeneInputs(
            torch.from_numpy(means).unsqueeze(0).to(device),
            profile=pd.Series(prediction.expression, index=bundle.genes),
            reference=pd.Series(means, index=bundle.genes),
            symbols={},
            config=config.explain,
            seed=config.seed,
        )
    found = explain_bag(
        model,
        features,
        expression,
        predictor.spec.classes,
        bundle.genes,
        out,
        lambda predicted: f"sample {prediction.sample_id}: predicted {predicted} ({prediction.model})",
        tiles=tiles,
        genes=genes,
    )
    found.top_tiles.to_csv(out / TOP_TILES, index=False)
    found.top_genes.to_csv(out / TOP_GENES, index=False)
    captions = {kind: SHAP_CAPTION if kind == "shap_genes" else CAPTIONS[kind] for kind in found.figures}
    record = {
        "sample_id": prediction.sample_id,
        "predicted": found.predicted,
        "probabilities": {c: float(p) for c, p in zip(prediction.classes, prediction.probabilities, strict=True)},
        "model": prediction.model,
        "missing_modality": prediction.missing_modality,
        "imputed_genes": prediction.imputed_genes,
        "figures": {kind: path.name for kind, path in found.figures.items()},
        "captions": captions,
    }
    (out / EXPLANATION_JSON).write_text(json.dumps(record, indent=2))
    owned.adopt_all()
    return found.figures
