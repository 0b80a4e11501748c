"""The needs vocabulary: one closed set of names a strategy declares, parsed once into `Needs`.

A strategy declares `needs: ClassVar[frozenset[str]]` (and, when a constructor parameter changes them,
overrides `declared_needs()`). The pool pass, the selection context, the trainer, the conformance kit
and `alseg strategies` all read the one `Needs` that `needs_of(strategy)` returns.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from alseg.strategies.base import StrategyContractError
from alseg.strategies.signals import POOL_KEYS, SIGNALS, base_of

__all__ = [
    "CAPABILITIES",
    "LABELED_PREFIX",
    "NEEDS",
    "REMOVED_ATTRIBUTES",
    "Needs",
    "class_needs",
    "markdown_table",
    "needs_of",
    "parse_needs",
]

#: `labeled:<pool key>` asks for that signal over the labeled set (ctx.labeled_signals[<pool key>]).
LABELED_PREFIX = "labeled:"

#: Needs that are not signals: what the harness hands the strategy besides arrays.
CAPABILITIES: dict[str, str] = {
    "model": "`ctx.predict(ids)` / `ctx.predict_scores(ids, score)`: the current model over any dataset ids "
             "(eval mode, no grad, float32)",
    "ensemble": "`ctx.train_member(k)`: a fresh model trained from scratch on the labeled set, seeded by k; "
                "implies `model` (predict with members through `ctx.predict(..., models=members)`)",
    "unlabeled_loss": "the trainer calls `extra_loss(out, labeled)` on every labeled batch and on one unlabeled "
                      "batch of the same size per step; without it `extra_loss` is never called",
}

#: Every valid need.
NEEDS: frozenset[str] = frozenset(POOL_KEYS | {LABELED_PREFIX + k for k in POOL_KEYS} | set(CAPABILITIES))

#: Attributes of the contract before alseg API 1.0, and what replaces each.
REMOVED_ATTRIBUTES: dict[str, str] = {
    "needs_labeled": "declare 'labeled:<signal>' in needs, e.g. needs = frozenset({'embedding', 'labeled:embedding'})",
    "needs_model": "declare 'model' in needs and call ctx.predict(ids) instead of running ctx.model yourself",
    "trains_on_unlabeled": "declare 'unlabeled_loss' in needs (return it from declared_needs() when a parameter "
                           "switches the loss on or off)",
}


@dataclass(frozen=True)
class Needs:
    """What one strategy instance needs, parsed: what the pool pass computes and what the context offers."""

    names: frozenset[str]  # every declared need, as written
    pool_keys: frozenset[str]  # exact keys of ctx.signals the strategy reads (variants included)
    pool_signals: frozenset[str]  # base signals the pool pass computes over the pool (e.g. {"entropy"})
    labeled_keys: frozenset[str]  # exact keys of ctx.labeled_signals (without the 'labeled:' prefix)
    labeled_signals: frozenset[str]  # base signals the pool pass computes over the labeled set
    model: bool  # the context carries a Predictor: ctx.predict, ctx.predict_scores
    ensemble: bool  # the context carries train_member (implies model)
    unlabeled_loss: bool  # the trainer calls extra_loss on labeled and unlabeled batches
    owner: str = field(default="a strategy", compare=False)  # for messages: "strategy 'asa'"


def _unknown_message(unknown: list[str], where: str) -> str:
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, NEEDS, n=1, cutoff=0.75)
        hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return (f"{where} declares unknown needs {', '.join(hints)}; the vocabulary is closed, valid needs: "
            f"{', '.join(sorted(NEEDS))}")


def parse_needs(names: Iterable[str], where: str = "a strategy") -> Needs:
    """Check declared needs against the closed vocabulary and split them by who provides what."""
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise StrategyContractError(
            f"{where}: needs must be a set of names such as frozenset({{'entropy'}}), got {names!r}")
    names = frozenset(names)
    not_text = sorted(repr(n) for n in names if not isinstance(n, str))
    if not_text:
        raise StrategyContractError(f"{where}: needs must be strings, got {', '.join(not_text)}")
    unknown = sorted(names - NEEDS)
    if unknown:
        raise StrategyContractError(_unknown_message(unknown, where))
    pool_keys = frozenset(n for n in names if n in POOL_KEYS)
    labeled_keys = frozenset(n[len(LABELED_PREFIX):] for n in names if n.startswith(LABELED_PREFIX))
    ensemble = "ensemble" in names
    return Needs(
        names=names,
        pool_keys=pool_keys,
        pool_signals=frozenset(base_of(k) for k in pool_keys),
        labeled_keys=labeled_keys,
        labeled_signals=frozenset(base_of(k) for k in labeled_keys),
        model="model" in names or ensemble,
        ensemble=ensemble,
        unlabeled_loss="unlabeled_loss" in names,
        owner=where,
    )


def _owner(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"strategy '{getattr(cls, 'name', '') or cls.__name__}'"


def _refuse_removed(obj: Any, where: str) -> None:
    """Raise when a class or instance still sets an attribute the old contract used."""
    for attr, replacement in REMOVED_ATTRIBUTES.items():
        if hasattr(obj, attr):
            raise StrategyContractError(f"{where} sets `{attr}`, which alseg API 1.0 removed: {replacement}")


def class_needs(cls: type) -> Needs:
    """The needs a strategy class declares (its default instance's): what the registry checks at load."""
    where = _owner(cls)
    _refuse_removed(cls, where)
    return parse_needs(getattr(cls, "needs", frozenset()), where)


def needs_of(strategy: Any) -> Needs:
    """The needs of one strategy instance (after its parameters): what the harness reads."""
    where = _owner(strategy)
    _refuse_removed(strategy, where)
    if "needs" in getattr(strategy, "__dict__", {}):
        raise StrategyContractError(
            f"{where} sets self.needs on the instance; declare `needs` on the class and, when a parameter "
            "changes them, return them from declared_needs()")
    return parse_needs(strategy.declared_needs(), where)


def markdown_table() -> str:
    """The needs vocabulary table of docs/strategies.md."""
    rows = ["| need | what the strategy gets |", "| --- | --- |"]
    keys = ", ".join(f"`{k}`" for s in SIGNALS for k in s.keys)
    rows.append(f"| {keys} | `ctx.signals[key]`, one row per pool image, aligned with `ctx.pool` (the signal table) |")
    rows.append(f"| `{LABELED_PREFIX}<key>` for any key above | `ctx.labeled_signals[key]`, the same signal over "
                "the labeled set, aligned with `ctx.labeled` |")
    for name, meaning in CAPABILITIES.items():
        rows.append(f"| `{name}` | {meaning} |")
    return "\n".join(rows)
