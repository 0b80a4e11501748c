"""Seed-paired significance on AUBC (p, Holm, minimum detectable effect, seeds needed) and BADGE's penalty matrix."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from alseg.report.compute import (
    REFERENCE,
    al_rows,
    compute_aubc_per_seed,
    get_metric,
    strategy_order,
)

ALPHA = 0.05
POWER = 0.8  # the power the minimum detectable effect and the seeds needed are stated at
SEEDS_CAP = 1000  # seeds_needed searches 2..SEEDS_CAP and reports "more" beyond it
WILCOXON_MIN_PAIRS = 6  # with ≤ 5 pairs the exact two-sided Wilcoxon p is never < 0.05
# Pitman efficiency of the signed-rank test against the t-test for normal differences: the Wilcoxon
# with n pairs has about the power of the t-test with n·3/π (G*Power's "A.R.E." method).
WILCOXON_ARE = 3.0 / math.pi


def paired_test_name(n: int) -> str:
    """The test the report uses for n seed pairs: Wilcoxon for ≥ 6, the paired t-test for 2–5, else 'n/a'."""
    if n < 2:
        return "n/a"
    return "wilcoxon" if n >= WILCOXON_MIN_PAIRS else "paired t"


def _effective_n(n: float, test: str) -> float:
    """Pairs at which the paired t-test's power stands in for the test's: n, or n·3/π for Wilcoxon."""
    if test == "wilcoxon":
        return n * WILCOXON_ARE
    if test == "paired t":
        return float(n)
    raise ValueError(f"unknown paired test '{test}'; valid: paired t, wilcoxon")


def _power_nc(nc: float, df: float, alpha: float) -> float:
    """Power of a two-sided t-test at noncentrality nc: P(|T| > t_crit) with T ~ noncentral t(df, nc).

    The lower tail P(T < −t_crit) is taken as P(T' > t_crit) with T' ~ noncentral t(df, −nc), the same number
    by symmetry: scipy's nct.cdf turns NaN that far into the tail (nc ≳ 12), its sf does not.
    """
    crit = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))


def paired_power(effect: float, sd: float, n: float, test: str = "paired t", alpha: float = ALPHA) -> float:
    """Power of the two-sided seed-paired test to detect a mean difference `effect` with difference std `sd`.

    Exact for the paired t-test (noncentral t, df = n − 1, noncentrality effect·√n / sd); for Wilcoxon the
    t-test's power with n·3/π pairs (an approximation, optimistic for few pairs). sd = 0: 1 when effect ≠ 0.
    """
    if n < 2 or not (math.isfinite(effect) and math.isfinite(sd)) or sd < 0:
        return float("nan")
    if sd == 0:
        return 1.0 if effect != 0 else 0.0
    n_eff = _effective_n(n, test)
    return _power_nc(abs(effect) * math.sqrt(n_eff) / sd, n_eff - 1.0, alpha)


def mde(sd: float, n: float, test: str = "paired t", alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect: the mean difference the seed-paired test finds with `power` at `alpha`.

    Solves paired_power(effect, sd, n) = power for effect (Brent on the noncentrality); NaN below 2 pairs,
    0 when every difference is equal (sd = 0: any non-zero shift is detected).
    """
    if n < 2 or not math.isfinite(sd) or sd < 0:
        return float("nan")
    if sd == 0:
        return 0.0
    n_eff = _effective_n(n, test)
    df = n_eff - 1.0
    high = 1.0
    while _power_nc(high, df, alpha) < power:
        high *= 2.0
    nc = optimize.brentq(lambda x: _power_nc(x, df, alpha) - power, 0.0, high, xtol=1e-12, rtol=1e-12)
    return float(nc) * sd / math.sqrt(n_eff)


def seeds_needed(
    effect: float, sd: float, alpha: float = ALPHA, power: float = POWER, cap: int = SEEDS_CAP
) -> int | None:
    """Fewest seeds n ≥ 2 whose test (paired_test_name(n)) reaches `power` for this effect and std.

    None when no n ≤ cap does (always for a zero effect; NaN inputs too). Power grows with n, also across
    the switch from the t-test at 5 pairs to Wilcoxon at 6 (6·3/π > 5), so a bisection finds the smallest n.
    """
    if not (math.isfinite(effect) and math.isfinite(sd)) or effect == 0 or cap < 2:
        return None

    def enough(n: int) -> bool:
        return paired_power(effect, sd, n, paired_test_name(n), alpha) >= power

    if not enough(cap):
        return None
    low, high = 1, cap  # enough(high) holds; enough(low) does not (fewer than 2 pairs test nothing)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values (monotone, capped at 1); NaN entries stay NaN, uncounted.

    With the m valid p sorted ascending, p_(i) becomes max over j ≤ i of min(1, (m − j + 1)·p_(j)).
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if valid.size == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    m = order.size
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


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
    test = paired_test_name(d.size)
    if test == "n/a":
        return test, float("nan")
    if np.all(np.abs(d) <= 1e-12):
        return test, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if test == "wilcoxon":
            return test, float(stats.wilcoxon(d).pvalue)
        if _constant(d):
            return test, 0.0
        return test, float(stats.ttest_1samp(d, 0.0).pvalue)


TEST_COLUMNS = ["strategy", "n_pairs", "test", "mean_diff", "sd_diff", "p_value", "p_holm", "mde", "seeds_needed"]


def compute_paired_tests(df: pd.DataFrame, metric: str = "dice", reference: str = REFERENCE) -> pd.DataFrame:
    """Test each strategy's per-seed AUBC against the reference's, paired over shared seeds.

    Beside each p: its Holm adjustment over the family of these tests, the std of the paired differences,
    the minimum detectable effect at 80 % power with these pairs, and the seeds the observed mean
    difference would need for 80 % power (NA: more than SEEDS_CAP, or a zero difference).
    """
    spec = get_metric(metric)
    rows = al_rows(df)
    order = strategy_order(rows)
    cols = TEST_COLUMNS
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
        sd = float(np.std(d, ddof=1)) if d.size >= 2 else float("nan")
        sd = 0.0 if d.size >= 2 and _constant(d) else sd  # float noise is no spread (as in paired_p)
        power_test = test if test != "n/a" else "paired t"
        records.append((name, int(d.size), test, mean_diff, sd, p, float("nan"),
                        mde(sd, d.size, power_test), seeds_needed(abs(mean_diff), sd)))
    out = pd.DataFrame(records, columns=cols)
    out["p_holm"] = holm(out["p_value"].to_numpy(dtype=float)) if len(out) else out["p_holm"]
    out["seeds_needed"] = out["seeds_needed"].astype("Int64")
    return out


VARIANT_COLUMNS = ["strategy", "base", "n_pairs", "test", "mean_diff", "sd_diff", "p_value", "mde", "seeds_needed"]


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
