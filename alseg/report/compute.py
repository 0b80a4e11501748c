"""Pure compute functions over the tidy round table: metrics, strategy order, curves, AUBC, efficiency, ceiling."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alseg.errors import AlsegUsageError

REFERENCE = "random"
CEILING = "full"
DONE = "done"


@dataclass(frozen=True)
class Metric:
    """A reported metric: its direction decides ranks, bold cells and efficiency targets."""

    higher_is_better: bool
    label: str


METRICS: dict[str, Metric] = {
    "dice": Metric(higher_is_better=True, label="Dice"),
    "iou": Metric(higher_is_better=True, label="IoU"),
    "miou": Metric(higher_is_better=True, label="mIoU"),
}


def get_metric(name: str) -> Metric:
    """Look a metric up by name, listing the valid names when it is unknown."""
    try:
        return METRICS[name]
    except KeyError:
        valid = ", ".join(METRICS)
        raise AlsegUsageError(f"unknown metric '{name}'; valid: {valid}") from None


def _natural_key(text: str) -> list[object]:
    """Sort key that puts 'x2' before 'x10'."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def strategy_order(df: pd.DataFrame) -> list[str]:
    """Stable strategy order: "random" first, then a Categorical's order or natural sort."""
    col = df["strategy"]
    present = set(col.astype(str))
    if isinstance(col.dtype, pd.CategoricalDtype):
        names = [str(c) for c in col.cat.categories if str(c) in present]
    else:
        names = sorted(present, key=_natural_key)
    names = [n for n in names if n != CEILING]
    if REFERENCE in names:
        names.remove(REFERENCE)
        names.insert(0, REFERENCE)
    return names


def sort_by_strategy(frame: pd.DataFrame, order: Sequence[str], *cols: str) -> pd.DataFrame:
    """Sort rows by the strategy order, then by the given columns; reset the index."""
    rank = {name: i for i, name in enumerate(order)}
    out = frame.assign(_o=frame["strategy"].map(rank).fillna(len(rank)))
    return out.sort_values(["_o", *cols], kind="stable").drop(columns="_o").reset_index(drop=True)


def _done(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of finished rounds only (all rows when there is no status column)."""
    if "status" in df.columns:
        df = df[df["status"].astype(str) == DONE]
    return df


def al_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Finished AL rounds (no ceiling rows) of a single dataset, strategy as plain str."""
    if "dataset" in df.columns and df["dataset"].nunique() > 1:
        found = ", ".join(sorted(map(str, df["dataset"].unique())))
        raise AlsegUsageError(
            f"a report covers one dataset at a time; found: {found}; filter by dataset first"
        )
    out = _done(df)
    out = out[out["strategy"].astype(str) != CEILING].copy()
    out["strategy"] = out["strategy"].astype(str)
    return out


def labels(df: pd.DataFrame) -> dict[str, str]:
    """Display label per strategy (the strategy name where no label is given)."""
    out: dict[str, str] = {}
    has = "label" in df.columns
    for name, label in zip(df["strategy"].astype(str), df["label"] if has else df["strategy"], strict=True):
        if name not in out and isinstance(label, str) and label:
            out[name] = label
    for name in df["strategy"].astype(str):
        out.setdefault(name, name)
    return out


def aubc(n_labeled: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoid area under a budget curve divided by (n_R - n_0) (design §5); one point → it."""
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"aubc needs equal-length, non-empty inputs; got {x.size} and {y.size}")
    idx = np.argsort(x, kind="stable")
    x, y = x[idx], y[idx]
    if x.size == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def _stats(group: pd.core.groupby.DataFrameGroupBy, col: str) -> pd.DataFrame:
    """Mean and sample std (ddof=1) of one column per group."""
    return group[col].agg(["mean", lambda s: s.std(ddof=1)]).set_axis([f"{col}_mean", f"{col}_std"], axis=1)


def compute_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of every metric per strategy and labeled count (the curves)."""
    rows = al_rows(df)
    order, names = strategy_order(rows), labels(rows)
    cols = ["strategy", "label", "n_labeled", "n_seeds"]
    cols += [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    group = rows.groupby(["strategy", "n_labeled"], sort=False)
    parts = [group["seed"].nunique().rename("n_seeds")]
    parts += [_stats(group, m) for m in METRICS if m in rows.columns]
    out = pd.concat(parts, axis=1).reset_index()
    out["label"] = out["strategy"].map(names)
    out["n_labeled"] = out["n_labeled"].astype(int)
    out = out.reindex(columns=cols)
    return sort_by_strategy(out, order, "n_labeled")


def compute_aubc_per_seed(df: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """AUBC of each (strategy, seed) curve; `complete` marks seeds that cover every budget."""
    get_metric(metric)
    rows = al_rows(df)
    order = strategy_order(rows)
    grid = set(rows["n_labeled"].astype(int))
    records = []
    for (name, seed), g in rows.groupby(["strategy", "seed"], sort=False):
        g = g.sort_values("n_labeled")
        records.append(
            {
                "strategy": name,
                "seed": int(seed),
                "aubc": aubc(g["n_labeled"].to_numpy(), g[metric].to_numpy()),
                "n_points": len(g),
                "complete": set(g["n_labeled"].astype(int)) >= grid,
            }
        )
    out = pd.DataFrame(records, columns=["strategy", "seed", "aubc", "n_points", "complete"])
    return sort_by_strategy(out, order, "seed")


def compute_aubc(df: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """Mean, std, seed count and rank (1 = best) of per-seed AUBC; only complete seeds count."""
    spec = get_metric(metric)
    rows = al_rows(df)
    order, names = strategy_order(rows), labels(rows)
    per_seed = compute_aubc_per_seed(rows, metric)
    per_seed = per_seed[per_seed["complete"]]
    group = per_seed.groupby("strategy", sort=False)["aubc"]
    out = pd.DataFrame(
        {
            "aubc_mean": group.mean(),
            "aubc_std": group.std(ddof=1),
            "n_seeds": group.size(),
        }
    ).reindex(order)
    out.index.name = "strategy"
    out = out.reset_index()
    out["n_seeds"] = out["n_seeds"].fillna(0).astype(int)
    out["rank"] = out["aubc_mean"].rank(ascending=not spec.higher_is_better, method="min")
    out["rank"] = out["rank"].astype("Int64")
    out.insert(1, "label", out["strategy"].map(names))
    out.insert(2, "metric", metric)
    return out


def compute_label_efficiency(df: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """Fewest labels at which each strategy's mean curve reaches Random's final-budget mean."""
    spec = get_metric(metric)
    curves = compute_curves(df)
    cols = ["strategy", "label", "target", "final_budget", "n_to_target", "reached", "saving"]
    ref = curves[curves["strategy"] == REFERENCE]
    if ref.empty:
        return pd.DataFrame(columns=cols)
    final = ref.loc[ref["n_labeled"].idxmax()]
    target, budget = float(final[f"{metric}_mean"]), int(final["n_labeled"])
    records = []
    for name, g in curves.groupby("strategy", sort=False):
        means = g.sort_values("n_labeled")
        vals = means[f"{metric}_mean"]
        hit = vals >= target if spec.higher_is_better else vals <= target
        n = int(means.loc[hit, "n_labeled"].iloc[0]) if hit.any() else None
        records.append(
            {
                "strategy": name,
                "label": g["label"].iloc[0],
                "target": target,
                "final_budget": budget,
                "n_to_target": n,
                "reached": n is not None,
                "saving": budget - n if n is not None else None,
            }
        )
    out = pd.DataFrame(records, columns=cols)
    out["n_to_target"] = out["n_to_target"].astype("Int64")
    out["saving"] = out["saving"].astype("Int64")
    return out



REGIME_KEYS = ("initial", "budget", "rounds")


def _steps(counts: Sequence[int]) -> list[int]:
    """Labels added between successive labeled counts."""
    return [b - a for a, b in itertools.pairwise(counts)]


def regime_text(counts: Sequence[int]) -> str:
    """A label schedule as 'initial + rounds × query' ("30 + 5 × 30"); unequal steps listed ("30 + 30 + 60")."""
    counts = [int(c) for c in counts]
    if not counts:
        raise ValueError("a label schedule needs at least one labeled count")
    steps = _steps(counts)
    if not steps:
        return str(counts[0])
    if len(set(steps)) == 1:
        return f"{counts[0]} + {len(steps)} × {steps[0]}"
    return " + ".join(map(str, [counts[0], *steps]))


def with_regime(title: str, regime: str | None) -> str:
    """A table or figure title followed by the label schedule it was measured under: "… (labels 30 + 5 × 30)"."""
    return f"{title} (labels {regime})" if regime else title


def _protocol_int(protocol: Mapping[str, object], key: str) -> int:
    """One setting of the label schedule as an int, refusing what is not a whole number of labels."""
    value = protocol[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 0:
        raise AlsegUsageError(f"the protocol's '{key}' is {value!r}, not a whole number of labels; the experiment's "
                              "experiment.json is damaged: rerun `alseg bench` into a new folder")
    return int(value)


def _matches(counts: list[int], given: Mapping[str, int]) -> bool:
    """Whether labeled counts agree with the schedule settings that are given (all three, or some)."""
    if len(given) == len(REGIME_KEYS):
        return counts == [given["initial"] + r * given["budget"] for r in range(given["rounds"] + 1)]
    steps = _steps(counts)
    found = {"initial": counts[0], "rounds": len(steps)}
    if steps:  # with one labeled count no query size can be read off the runs
        found["budget"] = steps[0] if len(set(steps)) == 1 else -1
    return all(found.get(k, v) == v for k, v in given.items())


def resolve_regime(budgets: Sequence[int], protocol: Mapping[str, object] | None = None) -> str | None:
    """The budget regime of a report ("30 + 5 × 30"): read from the protocol, checked against the runs.

    The protocol's `initial`, `budget` and `rounds` (those it has) must describe the labeled counts of the
    finished runs (`budgets`); a mismatch means the run files were not made under this protocol and raises
    AlsegUsageError naming both. Without those settings the runs' own counts give it; None with neither.
    """
    counts = sorted({int(n) for n in budgets})
    given = {k: _protocol_int(protocol, k) for k in REGIME_KEYS if protocol and k in protocol}
    full = len(given) == len(REGIME_KEYS)
    planned = [given["initial"] + r * given["budget"] for r in range(given["rounds"] + 1)] if full else counts
    if counts and not _matches(counts, given):
        shown = ", ".join(f"{k} = {v}" for k, v in given.items())
        schedule = f": {regime_text(planned)}" if full else ""
        raise AlsegUsageError(
            f"the protocol's label schedule ({shown}{schedule}) does not match the labeled counts of the finished "
            f"runs ({', '.join(map(str, counts))}): these run files were not made under this protocol; report "
            "them from the experiment folder whose experiment.json made them"
        )
    return regime_text(planned) if planned else None


def compute_ceiling(df: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of the full-supervision rows (one row, or none without a ceiling)."""
    rows = _done(df)
    rows = rows[rows["strategy"].astype(str) == CEILING].copy()
    cols = ["strategy", "label", "n_labeled", "n_seeds"]
    cols += [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows["strategy"] = CEILING
    group = rows.groupby("strategy")
    parts = [group["seed"].nunique().rename("n_seeds"), group["n_labeled"].max()]
    parts += [_stats(group, m) for m in METRICS if m in rows.columns]
    out = pd.concat(parts, axis=1).reset_index()
    out["label"] = labels(rows).get(CEILING, "Full supervision")
    return out.reindex(columns=cols)


def final_means(curves: pd.DataFrame, metric: str = "dice") -> pd.Series:
    """Mean metric at each strategy's largest labeled count, indexed by strategy."""
    if curves.empty:
        return pd.Series(dtype=float)
    last = curves.loc[curves.groupby("strategy", sort=False)["n_labeled"].idxmax()]
    return last.set_index("strategy")[f"{metric}_mean"]


def percent_of_full(curves: pd.DataFrame, ceiling: pd.DataFrame, metric: str = "dice") -> pd.Series:
    """Final mean metric as a percentage of the full-supervision mean (empty without a ceiling)."""
    if ceiling.empty:
        return pd.Series(dtype=float)
    return final_means(curves, metric) / float(ceiling[f"{metric}_mean"].iloc[0]) * 100.0
