"""Packed bags: a padded batch gives each bag what it gets alone, and the loss and gradients of the per-bag mean."""

from __future__ import annotations

import pytest
import torch
import torchvision
from test_models import SMALL as TEST_MODELS_SMALL

from leukmodel.models import Layer4Encoder, build_model, mil_loss
from leukmodel.training.packing import pack, prediction_batches

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = TEST_MODELS_SMALL.model_copy(update={"dropout": 0.0})  # no dropout: gradients comparable in train mode
SIZES = (5, 1, 9, 3)


def _bags(dim: int = 24, genes: int = 40):
    torch.manual_seed(0)
    features = [torch.randn(n, dim) for n in SIZES]
    expression = [torch.randn(genes) for _ in SIZES]
    return features, expression, [0, 2, 1, 2]


def _model(name: str, tile_dim: int | None = None):
    torch.manual_seed(1)
    model = build_model(name, 3, 24, 40, SMALL.model_copy(update={"tile_dim": tile_dim}))
    # trained-looking attention: the scoring layer starts at zero (uniform attention), which would hide a mask bug
    if model.uses_images:
        torch.nn.init.normal_(model.pool.score.weight)
    return model


@pytest.mark.parametrize("tile_dim", [None, 10], ids=["tiles-as-they-are", "tiles-projected"])
@pytest.mark.parametrize("name", ["fusion", "late_fusion", "image", "genomic"])
def test_a_packed_batch_gives_each_bag_its_own_output(name, tile_dim):
    model = _model(name, tile_dim).eval()
    features, expression, labels = _bags()
    batch = pack(features, expression, labels, torch.device("cpu"))
    packed = model.forward_packed(
        batch.features if model.uses_images else None, batch.expression if model.uses_expression else None, batch.mask
    )
    for b, (f, e) in enumerate(zip(features, expression, strict=True)):
        alone = model(f if model.uses_images else None, e if model.uses_expression else None)
        got = packed.bag(b)
        torch.testing.assert_close(got.logits, alone.logits, atol=1e-5, rtol=1e-5)
        if alone.attention is None:
            continue
        n = len(f)
        torch.testing.assert_close(got.attention[:n], alone.attention, atol=1e-5, rtol=1e-5)
        assert (got.attention[n:] == 0).all(), "padded tiles must get exactly zero attention"
        if alone.genomic_to_image is not None:
            torch.testing.assert_close(got.genomic_to_image[:, :n], alone.genomic_to_image, atol=1e-5, rtol=1e-5)
            assert (got.genomic_to_image[:, n:] == 0).all()
            torch.testing.assert_close(got.image_to_genomic[:, :n], alone.image_to_genomic, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("tile_dim", [None, 10], ids=["tiles-as-they-are", "tiles-projected"])
@pytest.mark.parametrize("name", ["fusion", "late_fusion", "image", "genomic"])
def test_packed_loss_and_gradients_are_the_mean_of_the_bag_losses(name, tile_dim):
    model = _model(name, tile_dim).train()
    features, expression, labels = _bags()
    use_f = model.uses_images
    use_e = model.uses_expression
    per_bag = [
        mil_loss(model(f if use_f else None, e if use_e else None), torch.tensor(y), 0.5)
        for f, e, y in zip(features, expression, labels, strict=True)
    ]
    expected = torch.stack(per_bag).mean()
    expected_grads = torch.autograd.grad(expected, list(model.parameters()), allow_unused=True)
    batch = pack(features, expression, labels, torch.device("cpu"))
    output = model.forward_packed(batch.features if use_f else None, batch.expression if use_e else None, batch.mask)
    loss = mil_loss(output, batch.labels, 0.5, batch.mask)
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    for (pname, _), got, want in zip(model.named_parameters(), grads, expected_grads, strict=True):
        if want is None:
            assert got is None or (got == 0).all(), pname
            continue
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4, msg=pname)


def test_packed_layer3_maps_go_through_layer4_for_real_tiles_only():
    layer4 = torchvision.models.resnet18(weights=None).layer4
    torch.manual_seed(1)
    model = build_model("image", 3, 512, 0, SMALL, tile_encoder=Layer4Encoder(layer4)).eval()
    torch.nn.init.normal_(model.pool.score.weight)
    maps = [torch.randn(n, 256, 4, 4) for n in (2, 4)]
    batch = pack(maps, [None, None], [0, 1], torch.device("cpu"))
    packed = model.forward_packed(batch.features, None, batch.mask)
    for b, m in enumerate(maps):
        alone = model(m, None)
        torch.testing.assert_close(packed.bag(b).logits, alone.logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(packed.bag(b).attention[: len(m)], alone.attention, atol=1e-5, rtol=1e-5)


def test_prediction_batches_bound_the_padded_size():
    sizes = [(9, 2048)] * 10 + [(30, 2048)] + [(9, 2048)] * 3
    parts = list(prediction_batches(sizes, max_elements=9 * 2048 * 4))
    assert [p.stop - p.start for p in parts] == [4, 4, 2, 1, 3]
    assert list(prediction_batches([(100, 2048)], max_elements=10)) == [slice(0, 1)], "a bag too large goes alone"
    assert list(prediction_batches([()] * 5, max_elements=3)) == [slice(0, 3), slice(3, 5)]
    assert list(prediction_batches([(9, 2048)] * 5, max_bags=2)) == [slice(0, 2), slice(2, 4), slice(4, 5)]
