"""Known-answer tests of alseg.report on hand-made round tables (fast, no training)."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats
from typer.testing import CliRunner

import alseg.report.figures as figures
from alseg.cli import app
from alseg.errors import AlsegUsageError
from alseg.records import RoundRecord
from alseg.report import (
    aubc,
    compute_aubc,
    compute_ceiling,
    compute_curves,
    compute_label_efficiency,
    compute_overlap,
    compute_paired_tests,
    compute_penalty_matrix,
    compute_picked_uncertainty,
    compute_times,
    compute_variant_tests,
    jaccard,
    merge_protocols,
    render_terminal,
    strategy_order,
    variant_base,
    write_report,
)
from alseg.report.bundle import compute_report
from alseg.report.compute import regime_text, resolve_regime
from alseg.report.figures import (
    CURVE_SIZE,
    DPI,
    new_figure,
    png_bytes,
    render_curves,
    render_overlap,
    render_penalty,
    tick_label,
)
from alseg.report.format import fmt_p, latex_escape
from alseg.report.stats import holm, mde, seeds_needed
from alseg.report.tables import build_leaderboard, fmt_seeds, main_table, variants_table, verdict, with_protocol

BUDGETS = [30, 60, 90]
LABELS = {"random": "Random", "entropy": "Entropy", "proposed": "Proposed & co_1"}


def frame(curves: dict[str, dict[int, list[float]]], budgets: list[int] = BUDGETS) -> pd.DataFrame:
    """Round table from {strategy: {seed: [dice per round]}}; iou = dice - 0.1, miou = dice + 0.1."""
    rows = []
    for name, seeds in curves.items():
        for seed, values in seeds.items():
            for rnd, (n, d) in enumerate(zip(budgets, values, strict=True)):
                last = rnd == len(values) - 1
                rows.append(
                    {
                        "dataset": "toy",
                        "strategy": name,
                        "label": LABELS.get(name, name),
                        "seed": seed,
                        "round": rnd,
                        "n_labeled": n,
                        "dice": d,
                        "iou": d - 0.1,
                        "miou": d + 0.1,
                        "t_train": 10.0 + rnd,
                        "t_pool": 0.0 if last else 2.0,
                        "t_select": 0.0 if last else 1.0,
                        "selected": [] if last else [f"{name}-{seed}-{rnd}", "shared"],
                        "picked_entropy": float("nan") if last else 0.1 * (rnd + 1),
                        "status": "done",
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def toy() -> pd.DataFrame:
    """Three strategies, three seeds, three rounds, plus a full-supervision ceiling."""
    rng = np.random.default_rng(0)
    curves = {
        "random": {s: [0.50, 0.60, 0.70 + 0.01 * s] for s in range(3)},
        "entropy": {s: [0.50, 0.62, 0.71 + 0.01 * s] for s in range(3)},
        "proposed": {s: [0.50, 0.70 + rng.normal(0, 0.002), 0.78] for s in range(3)},
    }
    df = frame(curves)
    full = [
        {
            "dataset": "toy",
            "strategy": "full",
            "label": "Full supervision",
            "seed": s,
            "round": 0,
            "n_labeled": 550,
            "dice": 0.9,
            "iou": 0.8,
            "miou": 0.95,
            "t_train": 100.0,
            "t_pool": 0.0,
            "t_select": 0.0,
            "selected": [],
            "picked_entropy": float("nan"),
            "status": "done",
        }
        for s in range(3)
    ]
    return pd.concat([df, pd.DataFrame(full)], ignore_index=True)


# --- AUBC and curves ---------------------------------------------------------------------------


def test_aubc_unequal_steps() -> None:
    # trapezoids: (0.5+0.6)/2*30 = 16.5 and (0.6+0.9)/2*60 = 45.0 → 61.5 / (120-30) = 0.68333…
    assert aubc([30, 60, 120], [0.5, 0.6, 0.9]) == pytest.approx(61.5 / 90)
    assert aubc([120, 30, 60], [0.9, 0.5, 0.6]) == pytest.approx(61.5 / 90)  # order-free
    assert aubc([30], [0.42]) == 0.42


def test_curves_mean_std_over_seeds() -> None:
    df = frame(
        {"random": {0: [0.5, 0.6], 1: [0.6, 0.6], 2: [0.7, 0.6]}, "entropy": {0: [0.5, 0.7]}},
        budgets=[30, 60],
    )
    c = compute_curves(df)
    assert list(c["strategy"]) == ["random", "random", "entropy", "entropy"]  # random first
    r30 = c[(c.strategy == "random") & (c.n_labeled == 30)].iloc[0]
    assert r30["dice_mean"] == pytest.approx(0.6)
    assert r30["dice_std"] == pytest.approx(0.1)  # ddof=1: sqrt((0.01+0+0.01)/2)
    assert r30["n_seeds"] == 3
    assert math.isnan(c[c.strategy == "entropy"]["dice_std"].iloc[0])  # one seed → NaN


def test_aubc_table_ranks_and_ignores_ceiling(toy: pd.DataFrame) -> None:
    a = compute_aubc(toy)
    assert list(a["strategy"]) == ["random", "entropy", "proposed"]
    assert list(a["rank"]) == [3, 2, 1]
    assert set(a["n_seeds"]) == {3}
    # random seed 0: (0.5+0.6)/2*30 + (0.6+0.7)/2*30 = 36 → 36/60 = 0.6
    per_seed0 = (0.5 + 0.6) / 2 * 30 + (0.6 + 0.70) / 2 * 30
    assert a.loc[0, "aubc_mean"] == pytest.approx(
        (per_seed0 / 60 + (per_seed0 + 0.15) / 60 + (per_seed0 + 0.3) / 60) / 3
    )


def test_strategy_order_and_single_dataset() -> None:
    df = frame({"zeta": {0: [0.5]}, "random": {0: [0.5]}, "a10": {0: [0.5]}, "a2": {0: [0.5]}}, budgets=[30])
    assert strategy_order(df) == ["random", "a2", "a10", "zeta"]
    df.loc[0, "dataset"] = "other"
    with pytest.raises(AlsegUsageError, match="one dataset"):
        compute_curves(df)


# --- significance -------------------------------------------------------------------------------


def _paired(n_seeds: int, diff: float, rng_seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    base = {s: [0.5, 0.6, 0.7] for s in range(n_seeds)}
    other = {s: [v + diff + rng.normal(0, 0.002) for v in base[s]] for s in range(n_seeds)}
    return frame({"random": base, "entropy": other})


def test_paired_test_choice_by_number_of_seeds() -> None:
    t6 = compute_paired_tests(_paired(6, 0.05)).iloc[0]
    assert (t6["test"], t6["n_pairs"]) == ("wilcoxon", 6)
    assert t6["p_value"] == pytest.approx(2 / 2**6)  # exact: all 6 differences positive
    t3 = compute_paired_tests(_paired(3, 0.05)).iloc[0]
    assert t3["test"] == "paired t" and t3["p_value"] < 0.05 and t3["mean_diff"] > 0
    t1 = compute_paired_tests(_paired(1, 0.05)).iloc[0]
    assert t1["test"] == "n/a" and math.isnan(t1["p_value"])


def test_paired_test_all_zero_differences() -> None:
    for n in (3, 6):
        same = frame(
            {"random": {s: [0.5, 0.6] for s in range(n)}, "entropy": {s: [0.5, 0.6] for s in range(n)}},
            budgets=[30, 60],
        )
        row = compute_paired_tests(same).iloc[0]
        assert row["p_value"] == 1.0 and row["mean_diff"] == 0.0


def test_variant_base_names() -> None:
    assert variant_base("proposed(uncertainty=false)") == "proposed"
    assert variant_base("margin(top=3,x=1)") == "margin"
    assert variant_base("proposed") is None
    assert variant_base("(x)") is None and variant_base("a(b") is None


def test_variants_are_tested_against_their_base_not_random() -> None:
    rng = np.random.default_rng(5)
    base = {s: [0.5, 0.7 + 0.01 * s, 0.8] for s in range(3)}
    worse = {s: [0.5, v - 0.04 + rng.normal(0, 0.002), 0.8 - 0.04] for s, (_, v, _) in base.items()}
    same = {s: list(v) for s, v in base.items()}
    df = frame({"random": {s: [0.5, 0.5, 0.5] for s in range(3)}, "proposed": base,
                "proposed(discrepancy=false)": worse, "proposed(uncertainty=false)": same,
                "other(x=1)": base})
    v = compute_variant_tests(df).set_index("strategy")
    assert list(v.index) == ["proposed(discrepancy=false)", "proposed(uncertainty=false)"]  # no base: left out
    assert (v["base"] == "proposed").all() and (v["n_pairs"] == 3).all()
    # AUBC over 30..90 (steps of 30, width 60): a 0.04 drop at 60 and 90 costs 0.04 * 45 / 60 = 0.03
    assert v.loc["proposed(discrepancy=false)", "mean_diff"] == pytest.approx(-0.03, abs=0.002)
    assert v.loc["proposed(discrepancy=false)", "p_value"] < 0.01
    assert v.loc["proposed(uncertainty=false)", "mean_diff"] == 0.0
    assert v.loc["proposed(uncertainty=false)", "p_value"] == 1.0
    assert compute_variant_tests(frame({"random": base, "entropy": base})).empty


def test_variants_table_matches_metrics_by_variant_name_not_row_order(toy: pd.DataFrame) -> None:
    proposed = toy[toy["strategy"] == "proposed"]
    worse = proposed.assign(strategy="proposed(discrepancy=false)", label="w/o DIS",
                            miou=proposed["miou"] - 0.05 * (proposed["round"] > 0))
    same = proposed.assign(strategy="proposed(uncertainty=false)", label="w/o UNC")
    data = compute_report(pd.concat([toy, worse, same], ignore_index=True))
    headers, rows = variants_table(data)
    shuffled = replace(data, variants={**data.variants, "miou": data.variants["miou"].iloc[::-1]})
    assert variants_table(shuffled) == (headers, rows)
    by_name = {r[0].text: [c.text for c in r] for r in rows}
    # Dice and mIoU both unchanged: every paired difference is 0, so any shift would show (MDE 0), none does (∞)
    assert by_name["w/o UNC"][3:] == ["+0.0000", "1.000", "0.0000", "∞", "+0.0000", "1.000", "0.0000", "∞"]
    assert by_name["w/o DIS"][3] == "+0.0000" and by_name["w/o DIS"][7].startswith("-0.0")
    assert headers[3:] == ["Δ AUBC (Dice)", "p", "MDE", "Seeds needed", "Δ AUBC (mIoU)", "p", "MDE", "Seeds needed"]


def test_report_shows_variants_section_only_when_there_are_variants(toy: pd.DataFrame, tmp_path: Path) -> None:
    write_report(toy, tmp_path / "plain")
    assert "Variants against" not in (tmp_path / "plain" / "leaderboard.md").read_text()
    ablation = toy[toy["strategy"] == "proposed"].assign(strategy="proposed(discrepancy=false)", label="w/o DIS")
    files = write_report(pd.concat([toy, ablation], ignore_index=True), tmp_path / "abl")
    md = files.markdown.read_text()
    assert "## Variants against their base strategy" in md
    assert "| w/o DIS | Proposed & co_1 | 3 | +0.0000 | 1.000 | 0.0000 | ∞ | +0.0000 | 1.000 | 0.0000 | ∞ |" in md
    assert "tab:variants" in files.latex.read_text()
    names = {f.name for f in files.figures}
    assert {"ablation_dice.png", "ablation_miou.png", "curves_dice.png"} <= names
    assert "![Dice curves of the variants (ablations) and their base](ablation_dice.png)" in md
    assert not {f.name for f in write_report(toy, tmp_path / "plain").figures} & {"ablation_dice.png"}
    assert tick_label("Proposed (UWC+FDL) (discrepancy=false)") == "Proposed (UWC+FDL)\n(discrepancy=false)"
    aubc_rows = pd.read_csv(files.aubc_csv)
    row = aubc_rows[(aubc_rows["strategy"] == "proposed(discrepancy=false)") & (aubc_rows["metric"] == "dice")]
    assert row["base"].item() == "proposed" and row["p_value_vs_base"].item() == 1.0


def _shifted(diffs: dict[str, list[float]]) -> pd.DataFrame:
    """Random plus strategies whose per-seed AUBC (two budgets, 30 and 60) exceeds Random's by exactly `diffs`."""
    n = len(next(iter(diffs.values())))
    curves = {"random": {s: [0.5, 0.6] for s in range(n)}}
    # AUBC of [0.5, 0.6 + 2e] over 30..60 is the mean of the two points: 0.55 + e
    curves |= {name: {s: [0.5, 0.6 + 2 * e] for s, e in enumerate(d)} for name, d in diffs.items()}
    return frame(curves, budgets=[30, 60])


def test_paired_tests_carry_holm_mde_and_seeds_needed() -> None:
    e = [0.010, 0.020, 0.000, 0.015, 0.005]  # mean 0.01, sd √(0.00025 / 4) = 0.0079057
    big = [0.050, 0.060, 0.055, 0.052, 0.058]
    t = compute_paired_tests(_shifted({"entropy": e, "proposed": big})).set_index("strategy")
    row = t.loc["entropy"]
    assert row["mean_diff"] == pytest.approx(0.01) and row["sd_diff"] == pytest.approx(math.sqrt(0.00025 / 4))
    # t = 0.01 / (0.0079057 / √5) = 2.8284 on 4 df: p = 0.0474
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(0.01 / (math.sqrt(0.00025 / 4) / math.sqrt(5)), 4))
    assert row["p_value"] == pytest.approx(0.0474, abs=1e-4)
    p_big = t.loc["proposed", "p_value"]
    assert p_big < row["p_value"]  # Holm: the smaller p × 2, the larger × 1 but not below the first
    assert t.loc["proposed", "p_holm"] == pytest.approx(2 * p_big)
    assert row["p_holm"] == pytest.approx(max(2 * p_big, row["p_value"]))
    assert row["mde"] == pytest.approx(mde(row["sd_diff"], 5)) and row["mde"] > row["mean_diff"]
    assert row["seeds_needed"] == seeds_needed(0.01, row["sd_diff"]) and row["seeds_needed"] > 5
    assert t.loc["proposed", "seeds_needed"] == 2  # a large, steady gain: two seeds already have the power
    np.testing.assert_allclose(t["p_holm"], holm(t["p_value"].to_list()))


def test_paired_tests_edges_one_seed_and_no_difference() -> None:
    one = compute_paired_tests(_shifted({"entropy": [0.01]})).iloc[0]
    assert one["test"] == "n/a" and math.isnan(one["sd_diff"]) and math.isnan(one["mde"])
    assert math.isnan(one["p_holm"]) and pd.isna(one["seeds_needed"])
    same = compute_paired_tests(_shifted({"entropy": [0.0, 0.0, 0.0]})).iloc[0]
    assert (same["sd_diff"], same["mde"], same["p_value"], same["p_holm"]) == (0.0, 0.0, 1.0, 1.0)
    assert pd.isna(same["seeds_needed"])  # a zero difference: no number of seeds
    assert [fmt_seeds(same["seeds_needed"], 0.0), fmt_seeds(pd.NA, 0.003), fmt_seeds(12, 0.003)] == ["∞", "> 1000",
                                                                                                   "12"]
    assert fmt_seeds(pd.NA, float("nan")) == "n/a"


def _row(**values: object) -> dict:
    base = {"test": "paired t", "n_pairs": 5, "mean_diff": 0.004, "sd_diff": 0.01, "p_value": 0.4, "p_holm": 1.0,
            "mde": 0.021, "seeds_needed": 40}
    return base | values


def test_verdict_lines_say_what_the_seeds_resolve() -> None:
    assert verdict("Entropy", _row(), 4) == (
        "Entropy: no difference from Random resolvable below 0.0210 AUBC with 5 seeds"
        " (observed +0.0040, p = 0.400; would need ~40 seeds).")
    assert verdict("X", _row(mean_diff=0.02, p_value=0.002, p_holm=0.01), 4) == (
        "X: better than Random (+0.0200 AUBC, Holm p = 0.010 over 4 tests, 5 seeds).")
    assert verdict("X", _row(mean_diff=-0.02, p_value=0.002, p_holm=0.01), 1).startswith(
        "X: worse than Random (-0.0200 AUBC, Holm p = 0.010 over 1 test,")
    raw_only = verdict("w/o DIS", _row(mean_diff=0.0102, p_value=0.046, p_holm=0.32, mde=0.0128, seeds_needed=4,
                                       n_pairs=3), 7)
    assert raw_only == ("w/o DIS: +0.0102 AUBC at p = 0.046, but Holm p = 0.320 over 7 tests against Random: no"
                        " finding; with 3 seeds the test resolves differences from 0.0128 AUBC (would need ~4 seeds).")
    assert verdict("A", _row(seeds_needed=pd.NA), 4).endswith("would need > 1000 seeds).")
    assert verdict("A", _row(mean_diff=0.0, seeds_needed=pd.NA), 4).endswith(
        "no number of seeds resolves a zero difference).")
    assert verdict("A", _row(mean_diff=0.0, sd_diff=0.0, p_value=1.0), 4) == (
        "A: the same AUBC as Random on each of the 5 paired seeds.")
    assert verdict("A", _row(test="n/a", n_pairs=1), 4) == (
        "A: not tested against Random (fewer than 2 paired seeds).")
    assert verdict("W", _row(test="wilcoxon", n_pairs=8, seeds_needed=6), 4).endswith(
        "~6 seeds give 80% power at this difference).")


def test_leaderboard_holds_holm_mde_seeds_and_a_verdict_per_strategy(toy: pd.DataFrame, tmp_path: Path) -> None:
    data = compute_report(toy)
    board = build_leaderboard(data)
    headers, rows = board.main
    at = {h: i for i, h in enumerate(headers)}
    assert headers[at["p vs Random"]:at["p vs Random"] + 4] == ["p vs Random", "Holm p", "MDE", "Seeds needed"]
    tests = data.tests["dice"].set_index("strategy")
    by_label = {r[0].text: r for r in rows}
    entropy = by_label["Entropy"]
    assert entropy[at["Holm p"]].text.startswith(fmt_p(tests.loc["entropy", "p_holm"]))
    assert entropy[at["MDE"]].text == f"{tests.loc['entropy', 'mde']:.4f}"
    assert [c.text for c in by_label["Random"][at["p vs Random"]:at["p vs Random"] + 4]] == ["ref.", "–", "–", "–"]
    assert len(board.verdicts) == 2 and board.verdicts[0].startswith("Entropy: ")
    md = write_report(toy, tmp_path).markdown.read_text()
    assert "### Verdicts against Random on Dice AUBC (labels 30 + 2 × 30)" in md
    assert all(f"- {line}" in md for line in board.verdicts)
    csv = pd.read_csv(tmp_path / "leaderboard.csv").set_index(["strategy", "n_labeled"])
    assert csv.loc[("entropy", 60), "dice_aubc_p_holm"] == pytest.approx(tests.loc["entropy", "p_holm"], rel=1e-5)
    assert csv.loc[("entropy", 90), "dice_aubc_mde"] == pytest.approx(tests.loc["entropy", "mde"], rel=1e-5)
    assert csv.loc[("proposed", 30), "dice_aubc_test"] == "paired t"
    assert csv.loc[("random", 30)][["dice_aubc_p_value", "dice_aubc_p_holm"]].isna().all()
    assert csv.loc[("full", 550)][["dice_aubc_p_value", "dice_aubc_mde"]].isna().all()
    aubc_rows = pd.read_csv(tmp_path / "aubc.csv")
    assert {"p_holm", "mde", "seeds_needed", "sd_diff", "mde_vs_base", "seeds_needed_vs_base"} <= set(aubc_rows)


# --- the budget regime ------------------------------------------------------------------------------------


def test_regime_text_and_its_source() -> None:
    assert regime_text([30, 60, 90, 120, 150, 180]) == "30 + 5 × 30"
    assert regime_text([30, 60, 120]) == "30 + 30 + 60" and regime_text([30]) == "30"
    protocol = {"initial": 30, "budget": 30, "rounds": 5, "epochs": 8}
    assert resolve_regime([30, 60, 90, 120, 150, 180], protocol) == "30 + 5 × 30"
    assert resolve_regime([], protocol) == "30 + 5 × 30"  # no finished run yet: the protocol alone
    assert resolve_regime([60, 30, 90]) == "30 + 2 × 30" and resolve_regime([]) is None
    assert resolve_regime([30, 60, 90], {"rounds": 2}) == "30 + 2 × 30"  # a partial protocol is checked too
    assert resolve_regime([30], {"budget": 30, "rounds": 0}) == "30"


@pytest.mark.parametrize(("protocol", "message"), [
    ({"initial": 20, "budget": 30, "rounds": 2}, r"initial = 20, budget = 30, rounds = 2: 20 \+ 2 × 30\) does not "
                                                 r"match the labeled counts of the finished runs \(30, 60, 90\)"),
    ({"rounds": 3}, r"\(rounds = 3\) does not match"),
    ({"budget": 20}, r"\(budget = 20\) does not match"),
    ({"initial": "30", "budget": 30, "rounds": 2}, r"'initial' is '30', not a whole number"),
    ({"initial": 30, "budget": True, "rounds": 2}, r"'budget' is True, not a whole number"),
])
def test_a_protocol_that_does_not_describe_the_runs_is_refused(
    toy: pd.DataFrame, tmp_path: Path, protocol: dict, message: str
) -> None:
    with pytest.raises(AlsegUsageError, match=message):
        write_report(toy, tmp_path / "out", protocol=protocol)
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_every_table_and_figure_title_shows_the_regime(
    toy: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ablation = toy[toy["strategy"] == "proposed"].assign(strategy="proposed(discrepancy=false)", label="w/o DIS")
    titles: list[str] = []
    for name in ("render_curves", "render_penalty", "render_overlap"):
        real = getattr(figures, name)

        def spy(*args: object, _real: object = real, **kwargs: object) -> object:
            ax = _real(*args, **kwargs)  # type: ignore[operator]
            titles.append(ax.get_title())
            return ax

        monkeypatch.setattr(figures, name, spy)
    protocol = {"initial": 30, "budget": 30, "rounds": 2}
    files = write_report(pd.concat([toy, ablation], ignore_index=True), tmp_path, protocol=protocol)
    assert len(titles) == len(files.figures) == 6
    assert all(t.endswith("(labels 30 + 2 × 30)") for t in titles), titles
    assert "Dice curves (labels 30 + 2 × 30)" in titles
    md = files.markdown.read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ") and line != "## Protocol"]
    assert len(headings) >= 8 and all(h.endswith("(labels 30 + 2 × 30)") for h in headings), headings
    assert "· labels: 30 + 2 × 30" in md
    captions = [line for line in files.latex.read_text().splitlines() if line.startswith(r"\caption")]
    assert len(captions) == 3 and all("labels 30 + 2 × 30" in c for c in captions), captions
    board = build_leaderboard(compute_report(toy), protocol)
    assert board.regime == "30 + 2 × 30" == with_protocol(build_leaderboard(compute_report(toy)), None).regime
    console = Console(record=True, width=250)
    console.print(render_terminal(toy))
    text = console.export_text()
    assert "alseg leaderboard — toy (Dice, labels 30 + 2 × 30)" in text and "Holm p" in text and "MDE" in text


def test_figure_renderers_add_the_regime_to_their_titles(toy: pd.DataFrame) -> None:
    data = compute_report(toy)
    _, ax = new_figure()
    assert render_penalty(data.penalty, ax, regime="30 + 2 × 30").get_title() == (
        "Pairwise penalty matrix (labels 30 + 2 × 30)")
    _, ax = new_figure()
    assert render_overlap(data.overlap, ax).get_title() == "Jaccard overlap of selections, round 1"
    _, ax = new_figure()
    assert render_curves(data.curves, "dice", ax, title="Dice").get_title() == "Dice"


def _experiment(root: Path, protocol: dict) -> Path:
    """An experiment folder: its experiment.json and one finished Random run of 30 + 2 × 30 labels."""
    root.mkdir()
    (root / "experiment.json").write_text(json.dumps({"protocol": protocol}))
    folder = root / "runs" / "random"
    folder.mkdir(parents=True)
    lines = [RoundRecord(strategy="random", name="random", params={}, label="Random", provider="alseg==test",
                         alseg_version="test", dataset="toy", seed=0, round=r, n_labeled=30 * (r + 1), dice=0.5,
                         iou=0.4, miou=0.6, added=[], selected=[], picked_entropy=None, pool_entropy=None,
                         t_train=1.0, t_eval=1.0, t_pool=0.0, t_select=0.0).to_line() for r in range(3)]
    (folder / "seed-0.jsonl").write_bytes(b"".join(lines))
    (folder / "seed-0.status.json").write_text(json.dumps({"status": "done", "strategy": "random", "seed": 0}))
    return root


def test_cli_report_refuses_runs_that_do_not_follow_the_protocol(tmp_path: Path) -> None:
    good = _experiment(tmp_path / "good", {"dataset": "toy", "initial": 30, "budget": 30, "rounds": 2})
    result = CliRunner().invoke(app, ["report", str(good)])
    assert result.exit_code == 0, result.output
    assert "labels 30 + 2 × 30" in (good / "leaderboard.md").read_text()
    bad = _experiment(tmp_path / "bad", {"dataset": "toy", "initial": 20, "budget": 30, "rounds": 2})
    result = CliRunner().invoke(app, ["report", str(bad)])
    assert result.exit_code == 2, result.output
    assert "does not match the labeled counts of the finished runs (30, 60, 90)" in result.output
    assert "experiment.json" in result.output and "Traceback" not in result.output
    assert not (bad / "leaderboard.md").exists() and not list(bad.glob("*.png"))


def test_penalty_matrix_one_strategy_always_wins() -> None:
    rng = np.random.default_rng(3)
    b = {s: [0.5, 0.6, 0.7, 0.8] for s in range(4)}
    # round 0 differs in B's favour: it must be ignored (all strategies share L0 there)
    a = {s: [0.4] + [v + 0.05 + rng.normal(0, 0.003) for v in b[s][1:]] for s in range(4)}
    p = compute_penalty_matrix(frame({"a": a, "b": b}, budgets=[30, 60, 90, 120]))
    assert p.loc["a", "b"] == pytest.approx(1.0)
    assert p.loc["b", "a"] == 0.0
    assert p.index.name == "winner" and p.columns.name == "loser"


def test_penalty_matrix_identical_and_single_seed_are_zero() -> None:
    same = {s: [0.5, 0.6, 0.7] for s in range(3)}
    p = compute_penalty_matrix(frame({"random": same, "entropy": same}))
    assert (p.to_numpy() == 0).all()
    one = compute_penalty_matrix(frame({"random": {0: [0.5, 0.6, 0.7]}, "entropy": {0: [0.5, 0.9, 0.9]}}))
    assert (one.to_numpy() == 0).all()


# --- efficiency, times, overlap, ceiling ----------------------------------------------------------


def test_label_efficiency_with_not_reached() -> None:
    df = frame(
        {
            "random": {0: [0.5, 0.6, 0.7], 1: [0.5, 0.6, 0.7]},
            "entropy": {0: [0.5, 0.72, 0.8], 1: [0.5, 0.70, 0.8]},  # mean 0.71 ≥ 0.70 at 60
            "proposed": {0: [0.5, 0.6, 0.65], 1: [0.5, 0.6, 0.69]},  # never reaches 0.70
        }
    )
    e = compute_label_efficiency(df).set_index("strategy")
    assert e.loc["random", "n_to_target"] == 90 and e.loc["random", "saving"] == 0
    assert e.loc["entropy", "n_to_target"] == 60 and e.loc["entropy", "saving"] == 30
    assert not e.loc["proposed", "reached"] and pd.isna(e.loc["proposed", "n_to_target"])
    assert e["target"].iloc[0] == pytest.approx(0.7)


def test_times_average_selection_rounds_only(toy: pd.DataFrame) -> None:
    t = compute_times(toy).set_index("strategy")
    assert t.loc["random", "t_train"] == pytest.approx(11.0)  # 10, 11, 12
    assert t.loc["random", "t_pool"] == 2.0 and t.loc["random", "t_select"] == 1.0
    assert t.loc["random", "total_per_seed"] == pytest.approx(33 + 4 + 2)
    assert "full" not in t.index


def test_jaccard_on_hand_made_selections() -> None:
    assert jaccard(["a", "b", "c"], ["b", "c", "d"]) == 0.5
    df = frame(
        {"random": {0: [0.5, 0.6], 1: [0.5, 0.6]}, "entropy": {0: [0.5, 0.6], 1: [0.5, 0.6]}},
        budgets=[30, 60],
    )
    sel = {
        ("random", 0): ["a", "b", "c"],
        ("entropy", 0): ["b", "c", "d"],
        ("random", 1): ["x"],
        ("entropy", 1): ["x"],
    }
    df["selected"] = [
        sel[(s, d)] if r == 0 else [] for s, d, r in zip(df.strategy, df.seed, df["round"], strict=True)
    ]
    ov = compute_overlap(df)
    assert len(ov) == 1  # the last round selects nothing and is skipped
    row = ov.iloc[0]
    assert (row.strategy_a, row.strategy_b, row["round"], row.n_seeds) == ("random", "entropy", 0, 2)
    assert row.jaccard == pytest.approx((0.5 + 1.0) / 2)


def test_picked_uncertainty_and_ceiling(toy: pd.DataFrame) -> None:
    pk = compute_picked_uncertainty(toy)
    assert list(pk[pk.strategy == "random"]["picked_entropy"]) == pytest.approx([0.1, 0.2])
    c = compute_ceiling(toy)
    assert len(c) == 1 and c.loc[0, "dice_mean"] == 0.9 and c.loc[0, "n_labeled"] == 550
    assert "full" not in set(compute_curves(toy)["strategy"])


# --- tables, writer, terminal ------------------------------------------------------------------


def test_formatting_helpers() -> None:
    assert fmt_p(0.0004) == "<0.001" and fmt_p(0.0312) == "0.031" and fmt_p(float("nan")) == "n/a"
    assert latex_escape("a_b & 5%") == r"a\_b \& 5\%"


def test_write_report_is_byte_identical(toy: pd.DataFrame, tmp_path: Path) -> None:
    runs = pd.DataFrame(
        [
            {"strategy": "proposed", "seed": 3, "status": "error", "message": "CUDA OOM"},
            {"strategy": "random", "seed": 0, "status": "done", "message": ""},
        ]
    )
    proto = {"preset": "paper", "train": {"epochs": 5}}
    first = write_report(toy, tmp_path / "a", runs=runs, title="Toy", protocol=proto)
    write_report(toy.sample(frac=1.0, random_state=1), tmp_path / "b", runs=runs, title="Toy", protocol=proto)
    again = write_report(toy, tmp_path / "a", runs=runs, title="Toy", protocol=proto)
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.tex", "aubc.csv", "overlap.csv"):
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes(), name
        assert a == again.markdown.with_name(name).read_bytes(), name
    md = first.markdown.read_text()
    assert "⚠ proposed seed 3: error — CUDA OOM" in md
    assert "![Dice curves](curves_dice.png)" in md and "`train.epochs`: 5" in md
    assert "% of full" in md and "| Random |" in md
    tex = first.latex.read_text()
    assert all(k in tex for k in (r"\toprule", r"\midrule", r"\bottomrule", r"Proposed \& co\_1"))
    head = first.csv.read_text().splitlines()[0]
    assert head == ("strategy,label,n_labeled,n_seeds,dice_mean,dice_std,iou_mean,iou_std,miou_mean,miou_std,"
                    "dice_aubc_test,dice_aubc_p_value,dice_aubc_p_holm,dice_aubc_mde,dice_aubc_seeds_needed")
    assert {p.name for p in first.figures} == {
        "curves_dice.png",
        "curves_miou.png",
        "penalty.png",
        "overlap.png",
    }
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_single_seed_std_shown_as_dash(tmp_path: Path) -> None:
    df = frame({"random": {0: [0.5, 0.6, 0.7]}, "entropy": {0: [0.5, 0.65, 0.75]}})
    md = write_report(df, tmp_path).markdown.read_text()
    assert "0.7000 ± –" in md


def _png_size(blob: bytes) -> tuple[int, int]:
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    assert blob[12:16] == b"IHDR"
    return struct.unpack(">II", blob[16:24])


def test_figure_is_png_of_expected_size(toy: pd.DataFrame, tmp_path: Path) -> None:
    files = write_report(toy, tmp_path)
    expected = (round(CURVE_SIZE[0] * DPI), round(CURVE_SIZE[1] * DPI))
    assert _png_size((tmp_path / "curves_dice.png").read_bytes()) == expected == (840, 540)
    for p in files.figures:
        _png_size(p.read_bytes())
    fig, ax = new_figure()
    render_curves(compute_curves(toy), "miou", ax, ceiling=0.95)
    assert _png_size(png_bytes(fig)) == expected
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())  # Random dashed
    assert any(line.get_linestyle() == ":" for line in ax.get_lines())  # ceiling dotted


def test_curve_legend_gives_seed_counts_only_when_they_differ(toy: pd.DataFrame) -> None:
    curves = compute_curves(toy)
    _, ax = new_figure()
    render_curves(curves, "dice", ax, ceiling=0.9, ceiling_seeds=int(curves["n_seeds"].max()))
    assert not any("(n=" in t.get_text() for t in ax.get_legend().get_texts())
    _, ax = new_figure()
    render_curves(curves, "dice", ax, ceiling=0.9, ceiling_seeds=5)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"Random (n={int(curves['n_seeds'].max())})" in texts and "Full supervision (n=5)" in texts
    fewer = toy[~((toy["strategy"] == "entropy") & (toy["seed"] == toy["seed"].max()))]
    _, ax = new_figure()
    render_curves(compute_curves(fewer), "dice", ax)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Entropy (n=2)" in texts and "Random (n=3)" in texts


def test_terminal_view_is_the_main_table_at_the_final_budget(toy: pd.DataFrame) -> None:
    ablation = toy[toy["strategy"] == "proposed"].assign(strategy="proposed(discrepancy=false)", label="w/o DIS")
    for df in (toy, pd.concat([toy, ablation], ignore_index=True), toy[toy["round"] == 0]):
        data = compute_report(df)
        board = build_leaderboard(data)
        assert board.main == main_table(data)
        assert board.final == main_table(data, budgets="final")
    assert board.final[0][:3] == ["Strategy", "Seeds", "Dice@30"]  # round 0 only: its budget is the final one
    assert [h for h in build_leaderboard(compute_report(toy)).final[0] if "@" in h] == ["Dice@90"]


def test_render_terminal_mentions_every_strategy(toy: pd.DataFrame) -> None:
    runs = pd.DataFrame([{"strategy": "entropy", "seed": 4, "status": "timeout", "message": "30 min"}])
    table = render_terminal(toy, runs)
    console = Console(record=True, width=200, color_system="truecolor")
    console.print(table)
    text = console.export_text(clear=False)
    for label in ("Random", "Entropy", "Proposed & co_1"):
        assert label in text
    assert "** p<0.01" in text and "entropy seed 4: timeout" in text
    best_aubc = table.columns[3]._cells[2]  # Proposed's AUBC is the best
    assert "bold green" in str(best_aubc.style)
    assert "font-weight: bold" in console.export_html(inline_styles=True)


# --- protocols -----------------------------------------------------------------------------------


def test_merge_protocols_refuses_differences_naming_both_values() -> None:
    a = {"preset": "paper", "train": {"epochs": 5, "lr": 1e-4}, "seeds": [0, 1]}
    b = {"preset": "paper", "train": {"epochs": 3, "lr": 1e-4}, "seeds": [2, 3]}
    with pytest.raises(AlsegUsageError) as err:
        merge_protocols({"results/exp1": a, "results/exp2": b})
    msg = str(err.value)
    assert "train.epochs" in msg and "results/exp1=5" in msg and "results/exp2=3" in msg
    assert "seeds" in msg and "preset" not in msg
    merged = merge_protocols({"x": a, "y": b}, ignore=["train.epochs", "seeds"])
    assert merged["preset"] == "paper" and merged["train.epochs"] == {"x": 5, "y": 3}
    assert merge_protocols({"x": a, "y": dict(a)})["train.lr"] == 1e-4
    with pytest.raises(AlsegUsageError, match="<missing>"):
        merge_protocols({"x": a, "y": {k: v for k, v in a.items() if k != "preset"}})
