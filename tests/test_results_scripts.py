"""Known-answer tests of the scripts in results/ that docs/results.md quotes (fast, no training)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from alseg.records import RoundRecord

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, RESULTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(root: Path, strategy: str, seed: int, times: list[float], status: str) -> None:
    folder = root / "runs" / strategy
    folder.mkdir(parents=True, exist_ok=True)
    rows = [RoundRecord(strategy=strategy, name=strategy, params={}, label=strategy, provider="alseg==test",
                        alseg_version="test", dataset="toy", seed=seed, round=r, n_labeled=10 * (r + 1), dice=0.5,
                        iou=0.4, miou=0.6, added=[], selected=[], picked_entropy=None, pool_entropy=None,
                        t_train=t, t_eval=1.0, t_pool=0.5, t_select=None)  # type: ignore[arg-type]  # null on disk
            for r, t in enumerate(times)]
    (folder / f"seed-{seed}.jsonl").write_bytes(b"".join(row.to_line() for row in rows))
    state = {"strategy": strategy, "seed": seed, "status": status, "rounds": len(times), "message": ""}
    (folder / f"seed-{seed}.status.json").write_text(json.dumps(state))


def test_compute_time_sums_finished_runs_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compute_time = _script("compute_time")
    (tmp_path / "experiment.json").write_text(json.dumps({"protocol": {"rounds": 1}}))  # 2 rounds a run
    _run(tmp_path, "random", 0, [100.0, 200.0], "done")  # 100 + 200 + 2 × (1 + 0.5) = 303 s
    _run(tmp_path, "random", 1, [55.5, 0.0], "done")  # 58.5 s
    _run(tmp_path, "entropy", 0, [1000.0], "running")  # not finished: left out
    runs = compute_time.finished_runs(tmp_path)
    assert dict(runs) == {"random": [(0, 303.0), (1, 58.5)]}
    compute_time.main(tmp_path)
    out = capsys.readouterr().out
    assert "| random | 2 | 0,1 | 3.0 | 6.0 |" in out  # 361.5 s = 6.0 min, 3.0 per run
    assert "All finished runs: 2, 0.10 h recorded." in out
    assert "By phase: train 356 s, eval 4 s, pool 2 s, select 0 s." in out  # 355.5 + 4 × 1 + 4 × 0.5
    assert "Shared first rounds" not in out
    assert "| random | 4 | 0.5 | 0.0 | 0.5 |" in out  # four rounds with a pool pass, t_select null on disk
    (tmp_path / "shared-round0.json").write_text(json.dumps(
        {"0": {"t_train": 17.5, "t_pool": 30.0, "t_eval": 0.5, "users": ["random"]},
         "1": {"t_train": 2.0, "t_pool": 1.0, "t_eval": 0.25, "users": ["random"]}}))
    assert compute_time.shared_round_seconds(tmp_path) == {"t_train": 19.5, "t_pool": 31.0, "t_eval": 0.75}
    compute_time.main(tmp_path)
    assert "Shared first rounds (shared-round0.json, not in the figures above): train 20 s, pool 31 s, eval 1 s." \
        in capsys.readouterr().out
    (tmp_path / "shared-round0.json").write_text(json.dumps(  # seed 1 recomputed: the earlier cost still counts
        {"0": {"t_train": 17.5, "t_pool": 30.0, "t_eval": 0.5, "users": ["random"]},
         "1": {"t_train": 2.0, "t_pool": 1.0, "t_eval": 0.25, "users": ["entropy"],
               "earlier": [{"t_train": 4.0, "t_pool": 2.0, "t_eval": 0.5, "users": ["random"]}]}}))
    assert compute_time.shared_round_seconds(tmp_path) == {"t_train": 23.5, "t_pool": 33.0, "t_eval": 1.25}
    (tmp_path / "shared-round0.json").write_text("{not json")
    with pytest.raises(SystemExit, match=r"shared-round0\.json is not the shared-round record"):
        compute_time.main(tmp_path)
    with pytest.raises(SystemExit, match="no finished runs"):
        compute_time.main(tmp_path / "nothing")


def test_compare_paper_sets_every_ablation_row_over_the_same_seeds() -> None:
    compare = _script("compare_paper")
    budgets = compare.BUDGETS
    rows = []
    for name in compare.PAPER_TABLE2:
        seeds = range(5) if name == "proposed" else range(3)
        for seed in seeds:
            miou = 0.9 if seed >= 3 else 0.5 + 0.1 * seed  # seeds 3 and 4 would pull the mean up
            rows += [{"strategy": name, "label": name, "seed": seed, "n_labeled": n,
                      "dice": miou, "iou": miou, "miou": miou} for n in budgets]
    board, seeds = compare.table2_board(pd.DataFrame(rows))
    assert seeds == [0, 1, 2]
    text = compare.table2(board)
    full = next(line for line in text.splitlines() if line.startswith("| Ours (full method) | ours"))
    assert full.count("60.00 ± 10.00") == len(budgets) and full.endswith("| 3 |")
    assert compare.shared_seeds(pd.DataFrame(rows), ["proposed", "missing"]) == []


def test_compare_paper_sets_a_second_dataset_beside_the_papers_second_dataset_columns() -> None:
    compare = _script("compare_paper")
    assert compare.paper_columns("cvc-clinicdb") == "cvc-clinicdb"
    assert compare.paper_columns("kvasir-seg") == "second"
    board = pd.DataFrame([{"strategy": "random", "n_labeled": 90, "n_seeds": 5, "miou_mean": 0.7,
                           "miou_std": 0.01, "dice_mean": 0.8, "dice_std": 0.02}])
    lines = compare.table1(board, "second").splitlines()
    assert "| 90 | Random | 0.7986 | 0.7963 | 0.7000 ± 0.0100 | 0.8000 ± 0.0200 | 5 |" in lines
    assert "| 180 | Proposed | 0.8303 | 0.8359 | – | – | 0 |" in lines
    assert "| 90 | Random | 0.8388 | 0.8225 | 0.7000 ± 0.0100 | 0.8000 ± 0.0200 | 5 |" in (
        compare.table1(board).splitlines())


def test_compare_datasets_reranks_and_holm_corrects_within_the_compared_family() -> None:
    compare = _script("compare_datasets")
    assert compare.agreement([0.01, 0.02], [0.01, 0.04]) == "finding on all"
    assert compare.agreement([0.01, 0.02], [0.01, 0.20]) == "same direction, resolved on some"
    assert compare.agreement([0.01, 0.02], [0.30, 0.20]) == "same direction, unresolved"
    assert compare.agreement([0.01, -0.02], [0.01, 0.20]) == "reverses"
    assert compare.agreement([0.01, -0.02], [0.30, float("nan")]) == "direction differs, unresolved"
    assert compare.agreement([0.01, float("nan")], [0.01, 0.01]) == "–"

    def table(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
        return pd.DataFrame([{"strategy": s, "label": s.title(), "aubc_mean": m, "rank": 99, "n_pairs": 5,
                              "mean_diff": m - 0.70, "p_value": p, "p_holm": 1.0} for s, m, p in rows]
                            ).set_index("strategy")

    a = table([("random", 0.70, float("nan")), ("entropy", 0.72, 0.01), ("coreset", 0.71, 0.02),
               ("extra", 0.75, 0.5)])
    b = table([("random", 0.70, float("nan")), ("entropy", 0.69, 0.04), ("coreset", 0.73, 0.02)])
    text = compare.compare({"A": a, "B": b})
    assert "Extra" not in text  # only the strategies both folders have
    # Holm over the 2 tests of the family, ranks within it: 0.01*2 = 0.02, max(0.02, 0.02*1) = 0.02
    assert ("| Entropy | +0.0200 (p 0.010, Holm 0.020), rank 1 | -0.0100 (p 0.040, Holm 0.040), rank 3 "
            "| reverses |") in text
    assert ("| Coreset | +0.0100 (p 0.020, Holm 0.020), rank 2 | +0.0300 (p 0.020, Holm 0.040), rank 1 "
            "| finding on all |") in text
    assert "Kendall's τ of the ranks, A against B (3 strategies): -0.33" in text
    with pytest.raises(SystemExit, match="nope in none of the folders"):
        compare.compare({"A": a, "B": b}, ["random", "nope"])


def test_compare_paper_names_a_missing_leaderboard(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"leaderboard\.csv not found.*alseg report"):
        _script("compare_paper").main(str(tmp_path))


def test_the_validation_split_holds_out_training_frames_only_and_is_reproducible(tmp_path: Path) -> None:
    from alseg.datasets.cvc import TEST_FRAMES

    make = _script("make_validation_split")
    assert [make.sequence_of(n) for n in (1, 25, 26, 67, 68, 591, 592, 612)] == [1, 1, 2, 3, 4, 28, 29, 29]
    assert sum(1 for n in range(1, 613) if make.sequence_of(n) == 10) == 6  # frames 200 to 205
    split = make.validation_split(seed=0, size=62)
    train, held = set(split["train"]), set(split["test"])
    assert len(held) >= 62 and len(train) + len(held) == 550 and not train & held
    held_sequences = {make.sequence_of(int(n)) for n in held}
    assert not {make.sequence_of(int(n)) for n in train} & held_sequences  # whole sequences held out
    assert not (train | held) & {str(n) for n in TEST_FRAMES}  # the standard test frames are in neither part
    assert train | held == {str(n) for n in range(1, 613)} - {str(n) for n in TEST_FRAMES}
    assert make.validation_split(seed=0, size=62) == split and make.validation_split(seed=1, size=62) != split
    make.main([str(tmp_path / "val.json")])
    assert json.loads((tmp_path / "val.json").read_text()) == split
    with pytest.raises(SystemExit, match="--size must be between 1 and 549"):
        make.validation_split(size=550)


@pytest.mark.skipif(not (RESULTS.parent.parent / "shared" / "data" / "cvc-clinicdb").is_dir(),
                    reason="needs the CVC-ClinicDB copy in ../shared/data/cvc-clinicdb")
def test_the_committed_validation_split_loads_as_a_split_file(tmp_path: Path) -> None:
    from alseg.datasets.cvc import load_cvc_clinicdb

    path = RESULTS / "cvc-clinicdb-validation-split.json"
    assert json.loads(path.read_text()) == _script("make_validation_split").validation_split(seed=0, size=62)
    data = load_cvc_clinicdb(data_dir=RESULTS.parent.parent / "shared" / "data" / "cvc-clinicdb", image_size=32,
                             cache_dir=tmp_path, split_file=path)
    assert len(data.train) + len(data.test) == 550 and len(data.test) >= 62
