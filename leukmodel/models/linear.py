"""Linear references: logistic regression on the fold's transformed expression, or on a bag's mean tile feature.

They answer a reader's first question, whether the deep model beats the simple one. The logistic regression is
fitted by scikit-learn (:func:`~leukmodel.training.linear.fit_linear`) and its coefficients are copied into a
linear layer, so the references predict, save, load and serve like every other :class:`BagClassifier`.
"""

from __future__ import annotations

from abc import abstractmethod

from torch import Tensor, nn

from leukmodel.models.fusion import BagClassifier, ModelParts
from leukmodel.models.output import ModelOutput
from leukmodel.models.tile_norm import FeatureStandardizer


class LinearClassifier(BagClassifier):
    """``logits = head(inputs(features, expression))``; :meth:`inputs` is what the logistic regression sees."""

    head: nn.Linear

    @abstractmethod
    def inputs(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None = None) -> Tensor:
        """What the logistic regression sees, one row per bag."""

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        return ModelOutput(logits=self.head(self.inputs(features, expression, mask)))


class LinearGenomicModel(LinearClassifier):
    """Logistic regression on the fold's transformed expression (log2 / z-score / PCA, the frozen input layer)."""

    name = "linear_genomic"
    uses_images = False
    uses_expression = True

    def __init__(self, parts: ModelParts):
        super().__init__(parts)
        self.head = nn.Linear(parts.genomic_in, parts.n_classes)

    def inputs(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None = None) -> Tensor:
        return self.genome(expression)


class LinearImageModel(LinearClassifier):
    """Logistic regression on the mean of a bag's tile features, standardised with the fold's training tiles."""

    name = "linear_image"
    uses_images = True
    uses_expression = False

    def __init__(self, parts: ModelParts):
        super().__init__(parts)
        self.tile_norm = FeatureStandardizer(parts.feature_dim)
        self.head = nn.Linear(parts.feature_dim, parts.n_classes)

    def inputs(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None = None) -> Tensor:
        """The mean standardised tile feature of each bag (over its real tiles in a packed batch)."""
        tiles = self.tiles(features, mask)
        if mask is None:
            return tiles.mean(dim=-2)
        weights = mask.to(tiles.dtype).unsqueeze(-1)
        return (tiles * weights).sum(dim=-2) / weights.sum(dim=-2)
