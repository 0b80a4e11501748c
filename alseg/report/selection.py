"""What the strategies selected and what a round cost: time per round, selection overlap, picked entropy."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

import numpy as np
import pandas as pd

from alseg.report.compute import al_rows, labels, sort_by_strategy, strategy_order


def _has_selection(row_selected: object) -> bool:
    """True where a round ended in a selection (a non-empty `selected`)."""
    return len(_as_set(row_selected)) > 0


def compute_times(df: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per round of training, pool pass and selection, and the mean total per seed.

    Train time is averaged over all rounds; pool and selection time over the rounds that ended in a
    selection (the last round selects nothing and would otherwise pull the mean down). A round 0 taken
    from the seed's shared first round (train and evaluation times stored as 0) is left out of the train
    and pool means (`shared_round0`); `workers` is the most runs that were timed side by side.
    """
    rows = al_rows(df)
    order, names = strategy_order(rows), labels(rows)
    cols = ["strategy", "label", "rounds", "t_train", "t_pool", "t_select", "total_per_seed", "shared_round0",
            "workers"]
    records = []
    for name, g in rows.groupby("strategy", sort=False):
        t_eval = g["t_eval"] if "t_eval" in g.columns else pd.Series(1.0, index=g.index)
        shared = (g["round"] == 0) & (g["t_train"] == 0) & (t_eval == 0)
        own = g[~shared]
        if "selected" in g.columns:
            sel = own[own["selected"].map(_has_selection)]
        else:
            sel = own[(own["t_pool"] > 0) | (own["t_select"] > 0)]
        totals = g.groupby("seed")[["t_train", "t_pool", "t_select"]].sum().sum(axis=1)
        records.append(
            {
                "strategy": name,
                "label": names[name],
                "rounds": int(g["round"].nunique()),
                "t_train": float(own["t_train"].mean()) if len(own) else float("nan"),
                "t_pool": float(sel["t_pool"].mean()) if len(sel) else float("nan"),
                "t_select": float(sel["t_select"].mean()) if len(sel) else float("nan"),
                "total_per_seed": float(totals.mean()),
                "shared_round0": bool(shared.any()),
                "workers": int(g["workers"].max()) if "workers" in g.columns else 1,
            }
        )
    return sort_by_strategy(pd.DataFrame(records, columns=cols), order)


def _as_set(value: object) -> frozenset[str]:
    """The ids of a `selected` cell as a set (None/NaN/empty → empty set)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return frozenset()
    if isinstance(value, str):
        return frozenset([value]) if value else frozenset()
    if isinstance(value, Iterable):
        return frozenset(str(v) for v in value)
    return frozenset()


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard index |A∩B| / |A∪B| of two id sets (NaN when both are empty)."""
    sa, sb = set(a), set(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else float("nan")


def compute_overlap(df: pd.DataFrame) -> pd.DataFrame:
    """Mean (over seeds) Jaccard index of the selections of each pair of strategies per round."""
    rows = al_rows(df)
    order = strategy_order(rows)
    cols = ["strategy_a", "strategy_b", "round", "n_labeled", "n_seeds", "jaccard"]
    if "selected" not in rows.columns or rows.empty:
        return pd.DataFrame(columns=cols)
    sets = {
        (r.strategy, int(r.seed), int(r.round)): (_as_set(r.selected), int(r.n_labeled))
        for r in rows.itertuples(index=False)
    }
    records = []
    for a, b in combinations(order, 2):
        for (name, seed, rnd), (sel_a, n) in sets.items():
            if name != a or not sel_a:
                continue
            sel_b = sets.get((b, seed, rnd), (frozenset(), n))[0]
            if sel_b:
                records.append((a, b, rnd, n, seed, jaccard(sel_a, sel_b)))
    per_seed = pd.DataFrame(records, columns=["strategy_a", "strategy_b", "round", "n", "seed", "j"])
    if per_seed.empty:
        return pd.DataFrame(columns=cols)
    group = per_seed.groupby(["strategy_a", "strategy_b", "round"], sort=False)
    out = group.agg(n_labeled=("n", "min"), n_seeds=("seed", "nunique"), jaccard=("j", "mean"))
    out = out.reset_index().reindex(columns=cols)
    rank = {name: i for i, name in enumerate(order)}
    out = out.assign(_a=out["strategy_a"].map(rank), _b=out["strategy_b"].map(rank))
    out = out.sort_values(["_a", "_b", "round"], kind="stable").drop(columns=["_a", "_b"])
    return out.reset_index(drop=True)


def compute_picked_uncertainty(df: pd.DataFrame) -> pd.DataFrame:
    """Mean predictive entropy of the picked images per strategy and round (NaN rounds skipped)."""
    rows = al_rows(df)
    order = strategy_order(rows)
    cols = ["strategy", "round", "n_labeled", "n_seeds", "picked_entropy"]
    if "picked_entropy" not in rows.columns:
        return pd.DataFrame(columns=cols)
    rows = rows[rows["picked_entropy"].notna()]
    group = rows.groupby(["strategy", "round"], sort=False)
    out = group.agg(
        n_labeled=("n_labeled", "min"),
        n_seeds=("seed", "nunique"),
        picked_entropy=("picked_entropy", "mean"),
    )
    return sort_by_strategy(out.reset_index().reindex(columns=cols), order, "round")
