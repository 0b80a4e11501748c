"""alseg's public surface for strategies: everything a plugin (and every built-in) imports, from here only.

Stable within an API major version (`API_VERSION`): names are only added, signatures only gain keyword
arguments with defaults. Pin the alseg releases that carry it, `alseg>=0.2,<0.3` for API 1.x; see
docs/strategies.md ("The plugin API"). Anything imported from elsewhere in alseg may change at any time.
"""

from __future__ import annotations

from alseg.models import ForwardOutput, SegModel
from alseg.strategies.base import (
    Strategy,
    StrategyContractError,
    check_scores,
    require_bool,
    require_choice,
    require_int,
    require_number,
    validate_selection,
)
from alseg.strategies.clustering import KMeansResult, weighted_kmeans
from alseg.strategies.context import Prediction, Predictor, ScoreFn, SelectionContext, UndeclaredSignalError
from alseg.strategies.matching import mmd_greedy
from alseg.strategies.needs import CAPABILITIES, LABELED_PREFIX, NEEDS, Needs, needs_of, parse_needs
from alseg.strategies.registry import build_strategy
from alseg.strategies.scores import (
    DIHEDRAL,
    binary_entropy,
    class_features,
    dihedral_apply,
    dihedral_invert,
    discrepancy_loss,
    embedding,
    fg_bg_similarity,
    reduce_pixels,
    similarity_weight,
    tta_variance,
)
from alseg.strategies.selection import k_center_greedy, nearest_to_centroids, top_k, unit_normalise
from alseg.strategies.signals import POOL_KEYS, POOL_SIGNALS, SIGNALS, Signal

#: Version of this surface. Major: a name removed or a signature changed; minor: something added.
API_VERSION = "1.1"

__all__ = [
    "API_VERSION",
    "CAPABILITIES",
    "DIHEDRAL",
    "LABELED_PREFIX",
    "NEEDS",
    "POOL_KEYS",
    "POOL_SIGNALS",
    "SIGNALS",
    "ForwardOutput",
    "KMeansResult",
    "Needs",
    "Prediction",
    "Predictor",
    "ScoreFn",
    "SegModel",
    "SelectionContext",
    "Signal",
    "Strategy",
    "StrategyContractError",
    "UndeclaredSignalError",
    "binary_entropy",
    "build_strategy",
    "check_scores",
    "class_features",
    "dihedral_apply",
    "dihedral_invert",
    "discrepancy_loss",
    "embedding",
    "fg_bg_similarity",
    "k_center_greedy",
    "mmd_greedy",
    "nearest_to_centroids",
    "needs_of",
    "parse_needs",
    "reduce_pixels",
    "require_bool",
    "require_choice",
    "require_int",
    "require_number",
    "similarity_weight",
    "top_k",
    "tta_variance",
    "unit_normalise",
    "validate_selection",
    "weighted_kmeans",
]
