"""Model shapes, attention sums, the genomic token set, the loss and the layer4 tile encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from leukmodel.config import ModelConfig
from leukmodel.genomics import GenomicTransform
from leukmodel.models import (
    MODELS,
    BidirectionalCrossAttention,
    FeatureStandardizer,
    GenomicEncoder,
    GenomicTokens,
    Layer4Encoder,
    attention_kl_uniform,
    build_model,
    mil_loss,
)
from leukmodel.models.registry import model_for, served_models

SMALL = ModelConfig(
    genomic_hidden=[32, 16],
    genomic_dim=12,
    attention_heads=2,
    attention_head_dim=8,
    mil_attention_dim=16,
    mil_hidden=16,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_default_sizes_follow_the_design():
    model = build_model("fusion", 4, 2048, 500, ModelConfig())
    linears = [m for m in model.encoder.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(500, 500), (500, 256), (256, 128)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.encoder.net) == 2
    assert all(m.p == 0.3 for m in model.encoder.net if isinstance(m, torch.nn.Dropout))
    assert model.cross_attention.genomic_to_image.num_heads == 4
    assert model.cross_attention.genomic_to_image.embed_dim == 256
    assert model.head.net[0].in_features == 2048 and model.head.net[0].out_features == 512
    model.eval()
    features = torch.randn(7, 2048)
    embedding = model.encoder(torch.randn(500))
    fused = model.cross_attention(features, model.tokens, embedding)
    assert fused.fused.shape == (7, 2048)
    assert fused.image_to_genomic.shape == (4, 7, 128)


def test_tile_dim_projects_the_tiles_of_every_image_model_and_its_default_leaves_them_as_they_are():
    for name in ("fusion", "late_fusion", "image"):
        plain = build_model(name, 4, 2048, 500, ModelConfig())
        assert not any(key.startswith("tile_projection.") for key in plain.state_dict()), "bundles load as before"
        model = build_model(name, 4, 2048, 500, ModelConfig(tile_dim=512)).eval()
        linear, relu, dropout = model.tile_projection
        assert (linear.in_features, linear.out_features, dropout.p) == (2048, 512, 0.3)
        assert isinstance(relu, torch.nn.ReLU)
        assert model.pool.value[0].in_features == 512
        assert model.head.net[0].in_features == 512 + (128 if name == "late_fusion" else 0)
        features = torch.randn(7, 2048)
        out = model(features, torch.randn(500))
        assert out.logits.shape == (4,) and out.attention.shape == (7,)
        assert model.tiles(features).shape == (7, 512)
        assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in plain.parameters())
    fusion = build_model("fusion", 4, 2048, 500, ModelConfig(tile_dim=512)).eval()
    assert fusion.cross_attention.out[0].out_features == 512, "the residual update is at the projected size"


def test_fusion_output_shapes_and_attention_sums():
    model = build_model("fusion", 3, 24, 40, SMALL).eval()
    out = model(torch.randn(9, 24), torch.randn(40))
    assert out.logits.shape == (3,)
    assert out.attention.shape == (9,)
    assert out.genomic_to_image.shape == (2, 9)
    assert out.image_to_genomic.shape == (2, 9, 12)
    torch.testing.assert_close(out.attention.sum(), torch.tensor(1.0))
    torch.testing.assert_close(out.genomic_to_image.sum(-1), torch.ones(2))
    torch.testing.assert_close(out.image_to_genomic.sum(-1), torch.ones(2, 9))


def test_baseline_outputs():
    image = build_model("image", 3, 24, 40, SMALL).eval()
    out = image(torch.randn(5, 24), None)
    assert out.logits.shape == (3,) and out.attention.shape == (5,)
    torch.testing.assert_close(out.attention.sum(), torch.tensor(1.0))
    assert out.genomic_to_image is None and out.image_to_genomic is None
    genomic = build_model("genomic", 3, 24, 40, SMALL).eval()
    out = genomic(None, torch.randn(40))
    assert out.logits.shape == (3,) and out.attention is None


def test_late_fusion_concatenates_the_pooled_tiles_and_the_genomic_embedding_into_one_head():
    model = build_model("late_fusion", 3, 24, 40, SMALL).eval()
    assert model.head.net[0].in_features == 24 + SMALL.genomic_dim
    torch.nn.init.normal_(model.pool.score.weight)
    features, expression = torch.randn(7, 24), torch.randn(40)
    out = model(features, expression)
    assert out.logits.shape == (3,) and out.attention.shape == (7,)
    torch.testing.assert_close(out.attention.sum(), torch.tensor(1.0))
    assert out.genomic_to_image is None and out.image_to_genomic is None
    pooled, attention = model.pool(model.tiles(features))
    expected = model.head(torch.cat([pooled, model.encoder(model.genome(expression))]))
    torch.testing.assert_close(out.logits, expected)
    torch.testing.assert_close(out.attention, attention)
    assert model(features, torch.randn(40)).logits.sub(out.logits).abs().max() > 1e-6, "the expression matters"


@pytest.mark.parametrize("name", list(MODELS))
def test_every_registered_model_builds_with_the_modalities_it_declares(name):
    entry = MODELS[name]
    model = build_model(name, 3, 24, 40, SMALL).eval()
    assert type(model) is entry.model and model.name == name
    out = model(torch.randn(5, 24) if entry.uses_images else None, torch.randn(40) if entry.uses_expression else None)
    assert out.logits.shape == (3,)
    assert entry.deep == (not entry.linear) and all(MODELS[r].linear for r in entry.linear_references)


def test_routing_and_served_models_follow_the_registry_order():
    assert served_models(list(MODELS)) == ["fusion", "image", "genomic"]
    assert served_models(["late_fusion", "image", "genomic", "linear_image"]) == ["late_fusion", "image", "genomic"]
    assert model_for(True, True, ["image", "late_fusion"]) == "late_fusion"
    assert model_for(False, True, ["fusion", "image"]) is None
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope", 3, 24, 40, SMALL)


def test_image_to_genomic_attention_is_not_constant_across_tokens():
    model = build_model("fusion", 3, 24, 40, SMALL).eval()
    out = model(torch.randn(6, 24), torch.randn(40))
    spread = out.image_to_genomic.std(dim=-1)
    assert (spread > 1e-3).all(), "each tile must weigh the genomic tokens differently"
    assert out.genomic_to_image.std(dim=-1).min() > 1e-4


def test_genomic_tokens_are_a_set_with_positions():
    tokens = GenomicTokens(12, 16)
    zero = tokens(torch.zeros(12))
    assert zero.shape == (12, 16)
    assert not torch.allclose(zero[0], zero[1]), "learned positions tell tokens apart"
    moved = tokens(torch.ones(12))
    torch.testing.assert_close(moved - zero, tokens.value.detach())


def test_encoder_layers():
    encoder = GenomicEncoder(10, (8, 6), 4, dropout=0.5)
    assert encoder(torch.randn(10)).shape == (4,)


def test_cross_attention_is_residual_on_tile_features():
    block = BidirectionalCrossAttention(feature_dim=20, genomic_dim=5, heads=2, head_dim=4).eval()
    torch.nn.init.zeros_(block.out[0].weight)
    torch.nn.init.zeros_(block.out[0].bias)
    features = torch.randn(3, 20)
    out = block(features, GenomicTokens(5, 8), torch.randn(5))
    torch.testing.assert_close(out.fused, features)


def test_model_takes_per_gene_expression_through_the_frozen_transform():
    rng = np.random.default_rng(0)
    transform = GenomicTransform("never", 8).fit(rng.normal(size=(20, 30)))
    model = build_model("genomic", 3, 0, 30, SMALL, genomic_transform=transform).eval()
    assert model.genomic_input.out_features == 8 and model.encoder.net[0].in_features == 8
    assert "genomic_input.weight" not in model.state_dict()
    expression = torch.randn(30, requires_grad=True)
    model(None, expression).logits[0].backward()
    assert expression.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="30 genes"):
        build_model("fusion", 3, 24, 31, SMALL, genomic_transform=transform)


def test_missing_modality_is_reported():
    with pytest.raises(ValueError, match="tile features"):
        build_model("image", 3, 24, 40, SMALL)(None, torch.randn(40))
    with pytest.raises(ValueError, match="expression"):
        build_model("fusion", 3, 24, 40, SMALL)(torch.randn(4, 24), None)


def test_kl_to_uniform():
    assert attention_kl_uniform(torch.full((8,), 1 / 8)).abs() < 1e-6
    assert attention_kl_uniform(torch.tensor([0.97, 0.01, 0.01, 0.01])) > 0.5


def test_loss_is_cross_entropy_plus_weighted_kl():
    model = build_model("image", 3, 24, 40, SMALL).eval()
    out = model(torch.randn(5, 24), None)
    target = torch.tensor(1)
    ce = torch.nn.functional.cross_entropy(out.logits[None], target[None])
    torch.testing.assert_close(mil_loss(out, target, 0.0), ce)
    torch.testing.assert_close(mil_loss(out, target, 2.0), ce + 2.0 * attention_kl_uniform(out.attention))


def test_layer4_encoder_trains_convolutions_with_frozen_batch_norm():
    layer4 = torchvision.models.resnet18(weights=None).layer4
    encoder = Layer4Encoder(layer4).train()
    assert all(not m.training for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    maps = torch.randn(3, 256, 2, 2, dtype=torch.float16)
    model = build_model("image", 3, 512, 0, SMALL, tile_encoder=encoder).train()
    out = model(maps, None)
    assert out.attention.shape == (3,)
    out.logits.sum().backward()
    assert layer4[0].conv1.weight.grad is not None


def test_feature_standardizer_is_identity_until_fitted_then_standardises():
    norm = FeatureStandardizer(6)
    features = torch.randn(40, 6) * 50 + 100
    torch.testing.assert_close(norm(features), features)
    norm.fit(features)
    out = norm(features)
    torch.testing.assert_close(out.mean(0), torch.zeros(6), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(6), atol=1e-4, rtol=0)
    assert set(norm.state_dict()) == {"mean", "scale"}
    model = build_model("fusion", 3, 24, 40, SMALL)
    assert (
        "tile_norm.mean" in model.state_dict()
        and "tile_norm.mean" in build_model("image", 3, 24, 40, SMALL).state_dict()
    )


def _cross_attention_as_written(module, features, tokens, embedding, mask):
    """The bidirectional cross-attention as DESIGN.md writes it, without its two shortcuts: the genomic tokens
    formed, layer-normed and projected by ``nn.MultiheadAttention`` bag by bag, and the genomic context
    concatenated to every tile before the output projection."""
    tiles = module.tiles_in(features)
    query = module.query_in(embedding).unsqueeze(1)
    context, g2i = module.genomic_to_image(query, tiles, tiles, key_padding_mask=~mask, average_attn_weights=False)
    normed = module.genomic_in(tokens(embedding))
    per_tile, i2g = module.image_to_genomic(tiles, normed, normed, average_attn_weights=False)
    update = module.out(torch.cat([per_tile, context.expand(-1, features.shape[1], -1)], dim=-1))
    return features + update * mask.unsqueeze(-1), g2i[:, :, 0], i2g * mask[:, None, :, None]


@pytest.mark.parametrize("batch", [5, 2, 1])
def test_cross_attention_shortcuts_give_the_outputs_and_gradients_of_the_attention_as_written(batch):
    model = build_model("fusion", 3, 64, 40, ModelConfig(genomic_dim=32, attention_heads=4, attention_head_dim=16))
    model.eval()  # no dropout: both computations see the same network
    with torch.no_grad():  # LayerNorms away from their identity start, so their affine terms are checked too
        for norm in (model.cross_attention.genomic_in, model.cross_attention.tiles_in[1]):
            norm.weight.normal_(1.0, 0.3)
            norm.bias.normal_(0.0, 0.3)
    features, embedding = torch.randn(batch, 9, 64), 3 * torch.randn(batch, 32)
    mask = torch.arange(9) < torch.tensor([9, 4, 7, 1, 9][:batch])[:, None]
    fast = model.cross_attention(features, model.tokens, embedding, mask)
    fast_loss = fast.fused.square().sum() + fast.image_to_genomic.pow(3).sum() + fast.genomic_to_image.pow(3).sum()
    fast_grads = torch.autograd.grad(fast_loss, list(model.parameters()), allow_unused=True)
    fused, g2i, i2g = _cross_attention_as_written(model.cross_attention, features, model.tokens, embedding, mask)
    torch.testing.assert_close(fast.fused, fused, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.genomic_to_image, g2i, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.image_to_genomic, i2g, atol=1e-5, rtol=1e-5)
    loss = fused.square().sum() + i2g.pow(3).sum() + g2i.pow(3).sum()
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    checked = 0
    for (name, _), got, expected in zip(model.named_parameters(), fast_grads, grads, strict=True):
        assert (got is None) == (expected is None), name
        if expected is not None:
            torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4, msg=name)
            checked += 1
    assert checked >= 12, "the tokens, both LayerNorms, both attentions and the output projection have gradients"
