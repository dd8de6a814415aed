"""Bidirectional cross-attention between the tiles of a bag and the genomic tokens of its sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leukmodel.models.genomic import GenomicTokens

FACTORED_FROM = 3
"""Batches of this many bags or more take the two shortcuts (:meth:`BidirectionalCrossAttention._update`,
:meth:`BidirectionalCrossAttention._image_to_genomic`); for fewer they cost more than they save."""


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
        # Run as it is below FACTORED_FROM bags; from there, _image_to_genomic computes it from its parameters.
        self.image_to_genomic = nn.MultiheadAttention(width, heads, batch_first=True)
        self.out = nn.Sequential(nn.Linear(2 * width, feature_dim), nn.Dropout(dropout))

    def forward(
        self,
        features: Tensor,
        genomic_tokens: GenomicTokens,
        genomic_embedding: Tensor,
        mask: Tensor | None = None,
    ) -> CrossAttentionOutput:
        """One bag: ``features`` (N, D) and ``genomic_embedding`` (E,), whose E tokens ``genomic_tokens`` makes;
        or a packed batch with a leading bag dimension B and a tile ``mask`` (B, N), ``True`` for real tiles.
        Padded tiles are no keys of genomic -> image (zero attention) and no queries of image -> genomic (zero
        update and zero attention rows), so each bag of a batch gets what it gets alone."""
        if features.ndim == 2:
            out = self(features[None], genomic_tokens, genomic_embedding[None])
            return CrossAttentionOutput(out.fused[0], out.genomic_to_image[0], out.image_to_genomic[0])
        tiles = self.tiles_in(features)
        query = self.query_in(genomic_embedding).unsqueeze(1)
        padding = None if mask is None else ~mask
        context, g2i = self.genomic_to_image(
            query, tiles, tiles, key_padding_mask=padding, need_weights=True, average_attn_weights=False
        )
        per_tile, i2g = self._image_to_genomic(tiles, genomic_tokens, genomic_embedding)
        update = self._update(per_tile, context)
        if mask is not None:
            update = update * mask.unsqueeze(-1)
            i2g = i2g * mask[:, None, :, None]
        return CrossAttentionOutput(fused=features + update, genomic_to_image=g2i[:, :, 0, :], image_to_genomic=i2g)

    def _update(self, per_tile: Tensor, context: Tensor) -> Tensor:
        """``out([per_tile, context])`` per tile, with the context's half computed once per bag (from
        :data:`FACTORED_FROM` bags: splitting the weight made a one-bag step 20% slower)."""
        if per_tile.shape[0] < FACTORED_FROM:
            return self.out(torch.cat([per_tile, context.expand(-1, per_tile.shape[1], -1)], dim=-1))
        linear, dropout = self.out
        tile_weight, context_weight = linear.weight.split(per_tile.shape[-1], dim=1)
        return dropout(F.linear(per_tile, tile_weight) + F.linear(context, context_weight, linear.bias))

    def _image_to_genomic(
        self, tiles: Tensor, genomic_tokens: GenomicTokens, genomic_embedding: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Each tile (B, N, width) attends over the layer-normed genomic tokens: ``self.image_to_genomic`` on
        ``genomic_in(tokens)``, computed on the tokens' factored form (:meth:`GenomicTokens.normed`). Keys and
        values are projected once per batch from the (2T, width) basis instead of once per bag; the keys' common
        term (the projected LayerNorm shift plus the key bias) adds the same score to every token of a query, so
        softmax cancels it. Returns (B, N, width) and the attention (B, heads, N, T).

        The factored form projects 2T vectors per batch, forming the tokens B T: below :data:`FACTORED_FROM` bags
        the tokens are formed and ``self.image_to_genomic`` runs as it is."""
        attention = self.image_to_genomic
        batch, n_tiles, width = tiles.shape
        if batch < FACTORED_FROM:
            tokens = self.genomic_in(genomic_tokens(genomic_embedding))
            return attention(tiles, tokens, tokens, need_weights=True, average_attn_weights=False)
        heads, head_dim = attention.num_heads, width // attention.num_heads
        normed = genomic_tokens.normed(genomic_embedding, self.genomic_in)
        query_weight, key_weight, value_weight = attention.in_proj_weight.chunk(3)
        query_bias, _, value_bias = attention.in_proj_bias.chunk(3)
        # Heads lead, the batch's tiles are rows: one (B N, head_dim) x (head_dim, 2T) product per head.
        query = F.linear(tiles, query_weight, query_bias) * head_dim**-0.5
        query = query.view(batch * n_tiles, heads, head_dim).transpose(0, 1)
        basis = torch.cat([normed.value, normed.position])
        keys = F.linear(basis, key_weight).view(-1, heads, head_dim).permute(1, 2, 0)
        values = F.linear(basis, value_weight).view(-1, heads, head_dim).transpose(0, 1)
        along, at = normed.along[:, None, :], normed.at[:, None, :]
        by_value, by_position = (query @ keys).view(heads, batch, n_tiles, -1).chunk(2, dim=-1)
        weights = (along * by_value + at * by_position).softmax(dim=-1)
        mixed = torch.cat([weights * along, weights * at], dim=-1).view(heads, batch * n_tiles, -1) @ values
        common = F.linear(normed.shift, value_weight, value_bias).view(heads, 1, head_dim)
        per_tile = (mixed + common).transpose(0, 1).reshape(batch, n_tiles, width)
        return attention.out_proj(per_tile), weights.transpose(0, 1)
