"""Seed-paired significance: tests against Random on AUBC and BADGE's pairwise penalty matrix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from alseg.report.compute import (
    REFERENCE,
    al_rows,
    compute_aubc_per_seed,
    get_metric,
    strategy_order,
)

ALPHA = 0.05
WILCOXON_MIN_PAIRS = 6  # with ≤ 5 pairs the exact two-sided Wilcoxon p is never < 0.05


def _constant(d: np.ndarray) -> bool:
    """True when all differences are equal up to float noise (the t statistic is undefined)."""
    scale = max(1.0, float(np.max(np.abs(d))))
    return float(np.ptp(d)) <= 1e-12 * scale


def paired_p(d: np.ndarray) -> tuple[str, float]:
    """Two-sided p of seed-paired differences: Wilcoxon for ≥ 6 pairs, else the paired t-test.

    All-zero differences give p = 1; identical non-zero differences give p = 0 for the t-test
    (every seed moved by the same amount, so there is no spread to test against).
    """
    d = np.asarray(d, dtype=float)
    if d.size < 2:
        return "n/a", float("nan")
    test = "wilcoxon" if d.size >= WILCOXON_MIN_PAIRS else "paired t"
    if np.all(np.abs(d) <= 1e-12):
        return test, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if test == "wilcoxon":
            return test, float(stats.wilcoxon(d).pvalue)
        if _constant(d):
            return test, 0.0
        return test, float(stats.ttest_1samp(d, 0.0).pvalue)


def compute_paired_tests(df: pd.DataFrame, metric: str = "dice", reference: str = REFERENCE) -> pd.DataFrame:
    """Test each strategy's per-seed AUBC against the reference's, paired over shared seeds."""
    spec = get_metric(metric)
    rows = al_rows(df)
    order = strategy_order(rows)
    cols = ["strategy", "n_pairs", "test", "mean_diff", "p_value"]
    per_seed = compute_aubc_per_seed(rows, metric)
    per_seed = per_seed[per_seed["complete"]]
    table = per_seed.pivot(index="seed", columns="strategy", values="aubc")
    if reference not in table.columns:
        return pd.DataFrame(columns=cols)
    records = []
    for name in order:
        if name == reference:
            continue
        if name in table.columns:
            pair = table[[name, reference]].dropna()
        else:
            pair = pd.DataFrame(columns=[name, reference], dtype=float)
        d = (pair[name] - pair[reference]).to_numpy(dtype=float)
        if not spec.higher_is_better:
            d = -d
        test, p = paired_p(d)
        mean_diff = float(np.mean(d)) if d.size else float("nan")
        records.append((name, int(d.size), test, mean_diff, p))
    return pd.DataFrame(records, columns=cols)


VARIANT_COLUMNS = ["strategy", "base", "n_pairs", "test", "mean_diff", "p_value"]


def variant_base(name: str) -> str | None:
    """The strategy a parameterised run varies ('proposed' for 'proposed(uncertainty=false)'), else None."""
    head, sep, _ = name.partition("(")
    return head if sep and head and name.endswith(")") else None


def compute_variant_tests(df: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """Each parameterised run (an ablation) against its base strategy: per-seed AUBC paired by seed.

    This is the ablation question (does removing a component cost anything?), answered with the same
    test as "p vs Random" so a reader can see whether a gap is larger than the seed-to-seed spread.
    """
    cols = VARIANT_COLUMNS
    rows = al_rows(df)
    order = strategy_order(rows)
    frames = []
    for name in order:
        base = variant_base(name)
        if base is None or base not in order:
            continue
        pair = compute_paired_tests(rows[rows["strategy"].isin([name, base])], metric, reference=base)
        frames.append(pair.assign(base=base))
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def _beats(d: np.ndarray) -> bool:
    """BADGE's win rule: two-sided one-sample t-test p < 0.05 and a positive mean difference."""
    if d.size < 2 or float(np.mean(d)) <= 0:
        return False
    if _constant(d):
        return True  # every seed better by the same amount: no spread, a win by any reading
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_1samp(d, 0.0).pvalue) < ALPHA


def compute_penalty_matrix(df: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """BADGE's pairwise penalty matrix P[winner, loser] over labeled counts of rounds ≥ 1.

    Round 0 is excluded: every strategy of a seed starts from the same L0 and the same weights, so
    its scores are identical by design. For each ordered pair and labeled count the seed-paired
    differences d = m_i − m_j get a two-sided one-sample t-test; p < 0.05 with mean(d) > 0 adds
    1 / (number of labeled counts compared) to P[i, j]. Fewer than 2 paired seeds: no win.
    """
    spec = get_metric(metric)
    rows = al_rows(df)
    order = strategy_order(rows)
    rows = rows[rows["round"] > 0]
    sign = 1.0 if spec.higher_is_better else -1.0
    table = rows.pivot_table(index=["n_labeled", "seed"], columns="strategy", values=metric, aggfunc="mean")
    matrix = pd.DataFrame(0.0, index=pd.Index(order, name="winner"), columns=pd.Index(order, name="loser"))
    for i in order:
        for j in order:
            if i == j or i not in table.columns or j not in table.columns:
                continue
            pair = table[[i, j]].dropna()
            budgets = pair.index.get_level_values("n_labeled").unique()
            wins = 0
            for n in budgets:
                sub = pair.xs(n, level="n_labeled")
                wins += _beats(sign * (sub[i] - sub[j]).to_numpy(dtype=float))
            if len(budgets):
                matrix.loc[i, j] = wins / len(budgets)
    return matrix
