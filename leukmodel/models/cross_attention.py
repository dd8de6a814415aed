"""Bidirectional cross-attention between the tiles of a bag and the genomic tokens of its sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class CrossAttentionOutput:
    """Fused tile features and both attention maps.

    Attributes (with a leading bag dimension B for a packed batch):
        fused: (N, D) tile features after the residual update.
        genomic_to_image: (heads, N) the genomic query's attention over the tiles (sums to 1 over N).
        image_to_genomic: (heads, N, T) each tile's attention over the genomic tokens (sums to 1 over T).
    """

    fused: Tensor
    genomic_to_image: Tensor
    image_to_genomic: Tensor


class BidirectionalCrossAttention(nn.Module):
    """Genomic -> image and image -> genomic multi-head attention, fused back into the tile features.

    * genomic -> image: one query made from the genomic embedding attends over the N tile tokens (which tiles
      the molecular context selects); its output, a context vector, is given to every tile.
    * image -> genomic: each tile attends over the T genomic tokens (which molecular dimensions it reinforces).

    Per tile, both outputs are concatenated, projected to the tile feature size and added to the tile features.

    Args:
        feature_dim: D, the size of a tile feature (2048 for ResNet-50).
        genomic_dim: E, the size of the genomic embedding (the query of genomic -> image).
        heads, head_dim: attention width is ``heads * head_dim`` (4 x 64 = 256).
        dropout: on the projected update.
    """

    def __init__(self, feature_dim: int, genomic_dim: int, heads: int = 4, head_dim: int = 64, dropout: float = 0.0):
        super().__init__()
        width = heads * head_dim
        self.tiles_in = nn.Sequential(nn.Linear(feature_dim, width), nn.LayerNorm(width))
        self.genomic_in = nn.LayerNorm(width)
        self.query_in = nn.Sequential(nn.Linear(genomic_dim, width), nn.LayerNorm(width))
        self.genomic_to_image = nn.MultiheadAttention(width, heads, batch_first=True)
        self.image_to_genomic = nn.MultiheadAttention(width, heads, batch_first=True)
        self.out = nn.Sequential(nn.Linear(2 * width, feature_dim), nn.Dropout(dropout))

    def forward(
        self, features: Tensor, genomic_tokens: Tensor, genomic_embedding: Tensor, mask: Tensor | None = None
    ) -> CrossAttentionOutput:
        """One bag: ``features`` (N, D), ``genomic_tokens`` (T, width), ``genomic_embedding`` (E,); or a packed
        batch with a leading bag dimension B and a tile ``mask`` (B, N), ``True`` for real tiles. Padded tiles are
        no keys of genomic -> image (zero attention) and no queries of image -> genomic (zero update and zero
        attention rows), so each bag of a batch gets what it gets alone."""
        if features.ndim == 2:
            out = self(features[None], genomic_tokens[None], genomic_embedding[None])
            return CrossAttentionOutput(out.fused[0], out.genomic_to_image[0], out.image_to_genomic[0])
        tiles = self.tiles_in(features)
        tokens = self.genomic_in(genomic_tokens)
        query = self.query_in(genomic_embedding).unsqueeze(1)
        padding = None if mask is None else ~mask
        context, g2i = self.genomic_to_image(
            query, tiles, tiles, key_padding_mask=padding, need_weights=True, average_attn_weights=False
        )
        per_tile, i2g = self.image_to_genomic(tiles, tokens, tokens, need_weights=True, average_attn_weights=False)
        update = self.out(torch.cat([per_tile, context.expand(-1, features.shape[1], -1)], dim=-1))
        if mask is not None:
            update = update * mask.unsqueeze(-1)
            i2g = i2g * mask[:, None, :, None]
        return CrossAttentionOutput(fused=features + update, genomic_to_image=g2i[:, :, 0, :], image_to_genomic=i2g)
