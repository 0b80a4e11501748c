"""Every strategy of alseg-baselines, with its main parameter variants, passes alseg's conformance kit."""

from __future__ import annotations

from alseg_baselines.badge import BadgeStrategy
from alseg_baselines.bald import BaldStrategy
from alseg_baselines.mc_entropy import McEntropyStrategy
from alseg_baselines.power import PowerStrategy
from alseg_baselines.typiclust import TypiClustStrategy

from alseg.api import Strategy
from alseg.testing import parametrize_with_checks

INSTANCES = [
    BaldStrategy(), BaldStrategy(passes=3, aggregate="max"), McEntropyStrategy(), McEntropyStrategy(aggregate="sum"),
    PowerStrategy(), PowerStrategy(base="entropy"), PowerStrategy(base="bald"),
    PowerStrategy(base="entropy", mode="softmax", beta=4.0), PowerStrategy(base="entropy(aggregate=max)",
                                                                             mode="softrank"),
    BadgeStrategy(), BadgeStrategy(kernel=1), TypiClustStrategy(), TypiClustStrategy(knn=3, n_init=2),
]


@parametrize_with_checks(INSTANCES)
def test_baselines_conform(strategy: Strategy, check) -> None:
    check(strategy)
