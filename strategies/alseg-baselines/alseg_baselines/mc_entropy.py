"""MC entropy: per pixel, the entropy of the mean of T MC-dropout passes (BALD's first term), reduced per image."""

from __future__ import annotations

from alseg_baselines.bald import MonteCarloDropoutStrategy
from alseg_baselines.maths import predictive_entropy


class McEntropyStrategy(MonteCarloDropoutStrategy):
    """Top images by H[mean_t p_t], the predictive entropy of the MC-dropout mean (Gal et al. 2017, 'Max Entropy')."""

    name = "mc_entropy"
    description = "entropy of the mean of MC-dropout passes (Gal et al. 2017 'Max Entropy'), reduced per image"
    label = "MC entropy"
    pixel_map = staticmethod(predictive_entropy)
    what = "MC-dropout entropies"
