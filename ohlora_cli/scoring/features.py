"""The feature extractor of ohlora's Fréchet distance: the catalog's Property Score CNN, hidden layer."""

from __future__ import annotations

import numpy as np
import torch

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.registry import load_cnn, resolve_cnns
from ohlora_cli.frechet import feature_stats, frechet_distance
from ohlora_cli.models.cnns import hidden_features

CPU = torch.device("cpu")


class PropertyFeatures:
    """``features(images)`` → N×F hidden features of the ``cnns`` set's Property Score CNN (uint8 RGB in)."""

    def __init__(self, catalog: Catalog, cnns: str = "synthetic", device: torch.device = CPU) -> None:
        row = resolve_cnns(catalog, cnns, ["cnn-property"])["cnn-property"]
        self.model, _ = load_cnn(row, device)
        self.device, self.name = device, f"property-cnn/{cnns} hidden layer"

    def features(self, images: np.ndarray) -> np.ndarray:
        return hidden_features(self.model, images, device=self.device)

    def distance_to(self, images: np.ndarray, reference: tuple[np.ndarray, np.ndarray]) -> float:
        """Fréchet distance of ``images``' features to reference statistics (mean, covariance)."""
        return frechet_distance(*feature_stats(self.features(images)), *reference)
