"""Known-answer tests of the report's power statistics (alseg.report.stats) against scipy and hand-made numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from alseg.report.stats import (
    ALPHA,
    POWER,
    SEEDS_CAP,
    WILCOXON_ARE,
    holm,
    mde,
    paired_power,
    paired_test_name,
    seeds_needed,
)

Z = stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)  # z_{0.975} + z_{0.8} = 2.8016


def t_power(effect: float, sd: float, n: float) -> float:
    """Power of the two-sided paired t-test written out from scipy's noncentral t (independent of alseg)."""
    df = n - 1
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    nc = effect * math.sqrt(n) / sd
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


# --- power and the minimum detectable effect ---------------------------------------------------------------


def test_power_is_alpha_at_no_effect_and_matches_the_noncentral_t() -> None:
    assert paired_power(0.0, 0.01, 5) == pytest.approx(ALPHA, abs=1e-12)  # the size of the test
    for effect, sd, n in [(0.01, 0.01, 5), (0.004, 0.008, 3), (0.02, 0.03, 12)]:
        assert paired_power(effect, sd, n) == pytest.approx(t_power(effect, sd, n), abs=1e-12)
    assert paired_power(-0.01, 0.01, 5) == paired_power(0.01, 0.01, 5)  # two-sided
    assert paired_power(0.01, 0.0, 3) == 1.0 and paired_power(0.0, 0.0, 3) == 0.0
    assert math.isnan(paired_power(0.01, 0.01, 1)) and math.isnan(paired_power(0.01, float("nan"), 5))


def test_power_stays_finite_far_into_the_tail() -> None:
    # scipy's nct.cdf is NaN at noncentrality ≳ 12; 1000 Wilcoxon pairs of a 0.4-sd effect are nc ≈ 12.4
    assert paired_power(0.004, 0.01, 1000, "wilcoxon") == pytest.approx(1.0)
    for n in (2, 5, 50, 5000):
        for effect in (0.001, 0.01, 0.1, 1.0):
            assert math.isfinite(paired_power(effect, 0.01, n))


def test_mde_of_a_hand_made_case_has_exactly_the_power_asked_for() -> None:
    d = np.array([0.010, 0.020, 0.000, 0.015, 0.005])  # mean 0.01, sd 0.0079057 (ddof 1)
    sd = float(np.std(d, ddof=1))
    assert sd == pytest.approx(math.sqrt(0.00025 / 4))
    effect = mde(sd, d.size)
    assert t_power(effect, sd, d.size) == pytest.approx(POWER, abs=1e-9)
    # the same root found by scipy on the power written out above (no alseg code): d = MDE / sd ≈ 1.68 at 5 pairs
    root = optimize.brentq(lambda e: t_power(e, sd, d.size) - POWER, 0.1 * sd, 3 * sd, xtol=1e-14)
    assert effect == pytest.approx(root, rel=1e-9) and 1.6 < effect / sd < 1.75
    assert effect > Z * sd / math.sqrt(d.size)  # few pairs: the t-test needs more than the normal formula's 1.25 sd
    assert t_power(effect * 0.99, sd, d.size) < POWER < t_power(effect * 1.01, sd, d.size)


def test_mde_approaches_the_normal_formula_with_many_pairs() -> None:
    sd = 0.01
    for n in (200, 2000):
        assert mde(sd, n) == pytest.approx(Z * sd / math.sqrt(n), rel=5e-3)
    assert mde(sd, 20000) == pytest.approx(Z * sd / math.sqrt(20000), rel=5e-4)


def test_mde_scales_with_sd_and_is_undefined_or_zero_at_the_edges() -> None:
    assert mde(0.02, 5) == pytest.approx(2 * mde(0.01, 5), rel=1e-9)
    assert mde(0.0, 5) == 0.0  # no spread: any shift is detected
    assert math.isnan(mde(0.01, 1)) and math.isnan(mde(float("nan"), 5))


def test_wilcoxon_mde_is_the_t_tests_at_three_over_pi_the_pairs() -> None:
    sd, n = 0.01, 10
    w = mde(sd, n, "wilcoxon")
    n_eff = n * 3 / math.pi
    assert t_power(w, sd, n_eff) == pytest.approx(POWER, abs=1e-9)  # scipy's nct at df = 10·3/π − 1
    assert mde(sd, 5000, "wilcoxon") / mde(sd, 5000) == pytest.approx(math.sqrt(math.pi / 3), rel=1e-3)
    assert WILCOXON_ARE == pytest.approx(0.9549, abs=1e-4)
    with pytest.raises(ValueError, match="unknown paired test"):
        mde(sd, n, "sign")


# --- seeds needed -------------------------------------------------------------------------------------------


def scan(effect: float, sd: float, cap: int = SEEDS_CAP) -> int | None:
    """Smallest n by a linear scan with scipy's power of the test the report uses at n (t below 6, Wilcoxon)."""
    for n in range(2, cap + 1):
        if t_power(effect, sd, n if n < 6 else n * 3 / math.pi) >= POWER:
            return n
    return None


def test_paired_test_name_follows_the_report() -> None:
    assert [paired_test_name(n) for n in (0, 1, 2, 5, 6, 40)] == ["n/a", "n/a", "paired t", "paired t",
                                                                  "wilcoxon", "wilcoxon"]


@pytest.mark.parametrize(("effect", "sd"), [(0.01, 0.0079), (0.004, 0.01), (0.0068, 0.0119), (0.03, 0.01),
                                            (0.0102, 0.0025), (0.002, 0.01)])
def test_seeds_needed_is_the_smallest_n_a_linear_scan_finds(effect: float, sd: float) -> None:
    n = seeds_needed(effect, sd)
    assert n == scan(effect, sd)
    assert n is not None and paired_power(effect, sd, n, paired_test_name(n)) >= POWER
    if n > 2:
        assert paired_power(effect, sd, n - 1, paired_test_name(n - 1)) < POWER
    assert seeds_needed(-effect, sd) == n


def test_seeds_needed_known_values_and_edges() -> None:
    # an effect of k sd needs about (2.80 / k)² t-test pairs by the normal formula, π/3 times that for Wilcoxon,
    # plus a few for the t's heavier tails: 0.4 sd → 49 · π/3 = 51.4 → 54, 0.1 sd → 785 · π/3 = 822 → 824
    for k, exact in ((0.4, 54), (0.1, 824)):
        normal = (Z / k) ** 2 / WILCOXON_ARE
        assert normal < seeds_needed(k * 0.01, 0.01) == exact == scan(k * 0.01, 0.01) < normal + 3
    assert seeds_needed(0.01, 0.0) == 2  # no spread: two seeds settle it
    assert seeds_needed(0.0, 0.01) is None  # a zero difference is never resolved
    assert seeds_needed(1e-6, 0.01) is None  # would need about 10⁸ seeds: beyond the cap
    assert seeds_needed(0.001, 0.01, cap=100) is None  # the 824 above are beyond a cap of 100
    assert seeds_needed(float("nan"), 0.01) is None and seeds_needed(0.01, float("nan")) is None


# --- Holm ---------------------------------------------------------------------------------------------------


def holm_direct(p: list[float]) -> list[float]:
    """Holm's step-down written out as in the textbook: a loop over the sorted p, a running maximum."""
    valid = [(v, i) for i, v in enumerate(p) if not math.isnan(v)]
    m = len(valid)
    out = [float("nan")] * len(p)
    running = 0.0
    for rank, (v, i) in enumerate(sorted(valid, key=lambda x: x[0])):
        running = max(running, min(1.0, (m - rank) * v))
        out[i] = running
    return out


def test_holm_on_a_hand_made_vector() -> None:
    # sorted valid p: 0.005 ×5 = 0.025; 0.01 ×4 = 0.04; 0.03 ×3 = 0.09; 0.04 ×2 = 0.08 → 0.09 (monotone); 0.5 ×1
    p = [0.01, 0.04, 0.03, 0.005, float("nan"), 0.5]
    expected = [0.04, 0.09, 0.09, 0.025, float("nan"), 0.5]
    np.testing.assert_allclose(holm(p), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    np.testing.assert_allclose(holm([0.3, 0.4, 0.6]), [0.9, 0.9, 0.9])  # 0.8 and 0.6 raised to the running max
    np.testing.assert_allclose(holm([0.02, 0.02]), [0.04, 0.04])  # ties
    assert holm([0.03]).tolist() == [0.03] and holm([]).size == 0
    assert np.isnan(holm([float("nan")])).all()


def test_holm_matches_a_direct_implementation() -> None:
    rng = np.random.default_rng(7)
    for m in (2, 5, 7, 20):
        p = rng.uniform(0, 0.2, m).tolist()
        np.testing.assert_allclose(holm(p), holm_direct(p), rtol=0, atol=1e-15)
        adjusted = holm(p)
        order = np.argsort(p)
        assert (np.diff(adjusted[order]) >= 0).all() and (adjusted >= np.array(p)).all() and (adjusted <= 1).all()


def test_holm_matches_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest", reason="statsmodels is not installed")
    p = [0.01, 0.04, 0.03, 0.005, 0.5, 0.2, 0.049]
    np.testing.assert_allclose(holm(p), multitest.multipletests(p, method="holm")[1], atol=1e-15)
