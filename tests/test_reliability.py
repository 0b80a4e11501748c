"""Fault injection: crashes at chosen and random moments, one writer, determinism records, broken strategies,
numerical and data faults. docs/reliability.md maps each guarantee to the tests here.

Crash tests run the real CLI in subprocesses and kill them with SIGKILL, either at a fault point
(ALSEG_FAULT=name:N, alseg/faults.py) or after a seeded random delay, then rerun the same command and
compare the finished experiment with an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_ARGS, strip_timing, tiny_config
from typer.testing import CliRunner

from alseg import faults
from alseg.bench import run_benchmark
from alseg.cli import app
from alseg.datasets.folder import load_folder
from alseg.errors import AlsegUsageError
from alseg.experiment import RunSetup, open_experiment
from alseg.records import RoundRecord
from alseg.round import SelectionTimeout, time_limit
from alseg.store import ExperimentStore, RunFile, TornRecordWarning
from alseg.strategies.registry import DISABLE_ENV, discover, resolve

# --- helpers -------------------------------------------------------------------------------------------

CRASH_STRATEGIES = ("entropy", "proposed")  # proposed trains on unlabeled batches and clusters
CRASH_ARGS = [*TINY_ARGS, "--rounds", "2", "--strategies", ",".join(CRASH_STRATEGIES), "--name", "crash"]
KILLED = -signal.SIGKILL


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: one BLAS thread, no fault unless given, wide tables."""
    env = {k: v for k, v in os.environ.items() if k not in (faults.ENV, "ALSEG_DEBUG")}
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"})
    env.update(extra)
    return env


def alseg_cmd(root: Path, *args: str) -> list[str]:
    """`alseg bench` with the crash protocol, results under root/results, the shared dataset cache beside root."""
    return [sys.executable, "-m", "alseg.cli", "bench", *CRASH_ARGS, "--out", str(root / "results"),
            "--cache-dir", str(root.parent / "cache"), *args]


def run_cli(root: Path, fault: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    env = cli_env(**({faults.ENV: fault} if fault else {}))
    return subprocess.run(alseg_cmd(root), env=env, capture_output=True, text=True, timeout=timeout)


def experiment(root: Path) -> Path:
    return root / "results" / "crash"


def run_lines(exp: Path, name: str) -> bytes:
    path = exp / "runs" / name / "seed-0.jsonl"
    return path.read_bytes() if path.exists() else b""


def check_invariants(exp: Path) -> None:
    """What must hold after any crash: whole JSON lines (a torn one only last), rounds 0..k in order,
    no checkpoint newer than the round being run."""
    for name in CRASH_STRATEGIES:
        raw = run_lines(exp, name)
        whole, _, torn = raw.rpartition(b"\n")
        rounds = [json.loads(line)["round"] for line in whole.splitlines() if line]
        assert rounds == list(range(len(rounds))), (name, rounds)
        if torn:  # a fragment of a record, never a whole one
            with pytest.raises(json.JSONDecodeError):
                json.loads(torn)
        for ckpt in (exp / ".checkpoints" / name).glob("seed-0.round-*.pt"):
            assert int(ckpt.stem.rsplit("-", 1)[1]) <= len(rounds), (name, ckpt.name)


def final_state(exp: Path) -> dict[str, bytes]:
    """The parts of a finished experiment that must not depend on interruptions (timings blanked)."""
    out = {}
    for name in CRASH_STRATEGIES:
        out[f"{name}.jsonl"] = strip_timing(run_lines(exp, name))
        out[f"{name}.status"] = (exp / "runs" / name / "seed-0.status.json").read_bytes()
    for fname in ("experiment.json", "leaderboard.csv", "aubc.csv", "overlap.csv", "leaderboard.tex"):
        out[fname] = (exp / fname).read_bytes()
    out["config.toml"] = re.sub(r'(?m)^out = .*$', "", (exp / "config.toml").read_text()).encode()
    out["figures"] = " ".join(sorted(p.name for p in exp.glob("*.png"))).encode()
    md = (exp / "leaderboard.md").read_text()
    out["leaderboard.md"] = re.sub(r"## Time per round.*?(?=\n## )", "", md, flags=re.S).encode()
    return out


def leftovers(exp: Path) -> list[str]:
    """Temporary files, checkpoints and torn lines that a finished experiment must not hold."""
    bad = [p.relative_to(exp).as_posix() for p in exp.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    bad += [p.relative_to(exp).as_posix() for p in (exp / ".checkpoints").rglob("*.pt")]
    bad += [f"torn {name}" for name in CRASH_STRATEGIES if not run_lines(exp, name).endswith(b"\n")]
    return bad


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Experiments of the crash tests live side by side here and share one dataset cache."""
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="module")
def reference(workdir) -> dict[str, bytes]:
    """The crash protocol run once without interruption (a subprocess, like the crashed ones)."""
    root = workdir / "ref"
    done = run_cli(root)
    assert done.returncode == 0, done.stderr
    exp = experiment(root)
    assert not leftovers(exp)
    return final_state(exp)


# --- faults.py -------------------------------------------------------------------------------------------


def test_fault_spec_parsing(monkeypatch):
    assert faults._parse("") is None
    assert faults._parse("train-step:3") == ("train-step", 3)
    for bad in ("train-step", "train-step:0", "nowhere:1", "train-step:x"):
        with pytest.raises(ValueError, match="ALSEG_FAULT"):
            faults._parse(bad)
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.reset()
    faults.fault_point("train-step")  # unarmed: nothing happens
    assert not faults.armed("record-write")
    monkeypatch.setenv(faults.ENV, "record-write:5")
    assert not faults.armed("record-write")  # the variable is read once per process
    faults.reset()
    assert faults.armed("record-write") and not faults.armed("train-step")
    faults.fault_point("train-step")  # another point: not counted, not killed
    monkeypatch.delenv(faults.ENV)
    faults.reset()


# --- crash safety: SIGKILL at each fault point, then the same command ---------------------------------------


@pytest.mark.slow
def test_kill_at_every_fault_point_then_rerun_gives_the_uninterrupted_experiment(reference, workdir):
    """One experiment killed six times in a row (training, pool pass, round record, checkpoint, another
    run's round record, leaderboard), each rerun resuming where the previous one died; the last rerun
    finishes it."""
    root = workdir / "crash"
    exp = experiment(root)
    # 1) During training: the 2nd optimiser step is entropy's round 1 (round 0 is stored).
    p = run_cli(root, "train-step:2")
    assert p.returncode == KILLED, p.stderr
    assert run_lines(exp, "entropy").count(b"\n") == 1
    owner = json.loads((exp / ".lock.owner").read_text())  # the dead writer's lock is left behind
    assert owner["pid"] != os.getpid()
    check_invariants(exp)
    # 2) During the pool pass of entropy's round 1.
    p = run_cli(root, "pool-batch:5")
    assert p.returncode == KILLED, p.stderr
    assert run_lines(exp, "entropy").count(b"\n") == 1
    check_invariants(exp)
    # 3) While entropy's round-1 record is written: half a line, fsynced, is left.
    p = run_cli(root, "record-write:1")
    assert p.returncode == KILLED, p.stderr
    raw = run_lines(exp, "entropy")
    assert raw.count(b"\n") == 1 and not raw.endswith(b"\n")
    assert (exp / ".checkpoints" / "entropy" / "seed-0.round-1.pt").exists()
    check_invariants(exp)
    # 4) The torn line is reported and dropped; round 1 is redone; killed before a checkpoint's rename.
    p = run_cli(root, "checkpoint-write:1")
    assert p.returncode == KILLED, p.stderr
    assert "dropped a partial last line" in p.stderr
    assert run_lines(exp, "entropy").endswith(b"\n") and run_lines(exp, "entropy").count(b"\n") == 1
    assert list((exp / ".checkpoints" / "entropy").glob(".seed-0.round-1.pt.*.tmp"))
    check_invariants(exp)
    # 5) Entropy finishes (records of rounds 1 and 2); killed while proposed's round-0 record is written.
    p = run_cli(root, "record-write:3")
    assert p.returncode == KILLED, p.stderr
    assert run_lines(exp, "entropy").count(b"\n") == 3
    assert json.loads((exp / "runs" / "entropy" / "seed-0.status.json").read_text())["status"] == "done"
    assert run_lines(exp, "proposed") and b"\n" not in run_lines(exp, "proposed")
    check_invariants(exp)
    # 6) Every run finishes; killed while the leaderboard is written (figures first, then leaderboard.md).
    n_figures = len(reference["figures"].split())
    p = run_cli(root, f"report-write:{n_figures + 1}")
    assert p.returncode == KILLED, p.stderr
    assert list(exp.glob(".leaderboard.md.*.tmp")) and not (exp / "leaderboard.md").exists()
    for name in CRASH_STRATEGIES:
        assert run_lines(exp, name).count(b"\n") == 3
    # A resume under other package versions warns (and still reproduces the same numbers).
    env_file = exp / "environment.json"
    env = json.loads(env_file.read_text())
    env["versions"]["torch"] = "0.0-edited"
    env_file.write_text(json.dumps(env))
    p = run_cli(root)
    assert p.returncode == 0, p.stderr
    assert "different package versions" in p.stderr and "torch 0.0-edited ->" in p.stderr
    assert not leftovers(exp)
    assert final_state(exp) == reference


ROUNDS_PER_RUN = 3  # CRASH_ARGS: --rounds 2, so rounds 0, 1 and 2
RANDOM_KILLS = 2  # kills in a row on one experiment, each landing while a run is in progress
KILL_TRIES = 8  # attempts in all before the test gives up on landing them


def lock_holder(exp: Path) -> int | None:
    """The pid in the experiment's lock owner file: written once a bench holds the lock, left behind by a kill."""
    try:
        return int(json.loads((exp / ".lock.owner").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stored_rounds(exp: Path) -> list[int]:
    """Whole round records stored per crash strategy."""
    return [run_lines(exp, name).count(b"\n") for name in CRASH_STRATEGIES]


def round_seconds(exp: Path) -> float:
    """Seconds a finished experiment spent in its rounds (the sum of its stored round times)."""
    lines = [line for name in CRASH_STRATEGIES for line in run_lines(exp, name).splitlines() if line]
    return sum(float(json.loads(line)[k] or 0.0) for line in lines for k in ("t_train", "t_eval", "t_pool", "t_select"))


def kill_in_run(root: Path, delay: float) -> tuple[int, bool]:
    """Start the bench, wait until it holds the experiment (past start-up and data loading), SIGKILL it `delay` s
    later; returns its exit code and whether the kill landed while a run was in progress: the process was
    killed (it had not finished), still held the experiment's lock and had stored fewer rounds than the total."""
    exp = experiment(root)
    proc = subprocess.Popen(alseg_cmd(root), env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 300
    while lock_holder(exp) != proc.pid and proc.poll() is None:
        assert time.monotonic() < deadline, "the bench did not take the experiment's lock within 300 s"
        time.sleep(0.02)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (0, KILLED), stderr
    landed = (proc.returncode == KILLED and lock_holder(exp) == proc.pid
              and sum(stored_rounds(exp)) < ROUNDS_PER_RUN * len(CRASH_STRATEGIES))
    return proc.returncode, landed


@pytest.mark.slow
def test_kill_at_random_moments_then_rerun_gives_the_uninterrupted_experiment(reference, workdir):
    """SIGKILL at seeded random moments while a run is in progress (two kills in a row on the same experiment),
    then finish it. A kill that misses (the bench finished first) starts over on a fresh experiment with shorter
    delays, a bounded number of times, so every counted kill really interrupted a run."""
    rng = random.Random(20240611)
    total = ROUNDS_PER_RUN * len(CRASH_STRATEGIES)
    seconds = max(round_seconds(experiment(workdir / "ref")), 1.0)  # what an uninterrupted bench spends in rounds
    scale, landed, tries, kills = 1.0, 0, 0, []
    root = workdir / "random-0"
    while landed < RANDOM_KILLS:
        assert tries < KILL_TRIES, f"no {RANDOM_KILLS} kills in a row landed during a run in {tries} tries: {kills}"
        exp = experiment(root)
        before = stored_rounds(exp)
        delay = rng.uniform(0.05, 1.0) * scale * seconds * (total - sum(before)) / total  # within the work left
        code, hit = kill_in_run(root, delay)
        tries += 1
        kills.append((round(delay, 2), code, before, stored_rounds(exp), hit))
        check_invariants(exp)
        if hit:
            landed += 1
        else:  # every round was stored before the kill: start over on a fresh experiment, with shorter delays
            root, scale, landed = workdir / f"random-{tries}", scale / 2, 0
    print("random kills (delay after lock s, return code, rounds before, rounds after, landed):", kills)
    p = run_cli(root)
    assert p.returncode == 0, p.stderr
    assert not leftovers(exp)
    assert final_state(exp) == reference


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, how", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_sigterm_and_sigint_mark_the_run_interrupted_then_rerun_finishes_it(reference, workdir, sig, code, how):
    """`kill` (SIGTERM) or SIGINT to a background bench (started with SIGINT ignored, as `cmd &` does)."""
    root = workdir / f"signal-{how}"
    exp = experiment(root)
    ignore_int = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731  (what a shell does for `&`)
    proc = subprocess.Popen(alseg_cmd(root), env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=ignore_int)
    first = exp / "runs" / CRASH_STRATEGIES[0] / "seed-0.jsonl"
    deadline = time.monotonic() + 120
    while not (first.exists() and first.read_bytes().count(b"\n") >= 1) and proc.poll() is None:
        assert time.monotonic() < deadline, "no round stored within 120 s"
        time.sleep(0.2)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "interrupted: finished rounds are stored" in stderr
    stopped = [json.loads((exp / "runs" / n / "seed-0.status.json").read_text())
               for n in CRASH_STRATEGIES if (exp / "runs" / n / "seed-0.status.json").exists()]
    assert any(st["status"] == "interrupted" and how in st["message"] for st in stopped), stopped
    done = run_cli(root)
    assert done.returncode == 0, done.stderr
    assert not leftovers(exp)
    assert final_state(exp) == reference


def test_torn_line_is_dropped_with_a_warning(tmp_path):
    file = RunFile(tmp_path / "seed-0.jsonl")
    record = RoundRecord(strategy="random", name="random", params={}, label="Random", provider="alseg",
                         alseg_version="0", dataset="synthetic", seed=0, round=0, n_labeled=6, dice=0.5, iou=0.4,
                         miou=0.6, added=["a"], selected=["b"], picked_entropy=None, pool_entropy=None,
                         t_train=1.0, t_eval=0.1, t_pool=0.2, t_select=0.0)
    file.append(record)
    with open(file.path, "ab") as fh:
        fh.write(b'{"round": 1, "x"')
    with pytest.warns(TornRecordWarning, match="partial last line"):
        assert file.round_records() == [record]
    assert file.path.read_bytes() == record.to_line()


def test_stale_temporary_files_are_removed_under_the_lock(tmp_path):
    store = ExperimentStore(tmp_path)
    for rel in (".leaderboard.md.abc.tmp", "runs/random/.seed-0.status.json.x.tmp",
                ".checkpoints/random/.seed-0.round-0.pt.y.tmp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"partial")
    (tmp_path / "keep.tmp").write_bytes(b"not ours")  # only hidden temp names of the store are removed
    assert len(store.remove_stale_temps()) == 3
    assert [p.name for p in tmp_path.rglob("*.tmp")] == ["keep.tmp"]


# --- one writer ----------------------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from alseg.locking import experiment_lock
root = Path(sys.argv[1])
root.mkdir(parents=True, exist_ok=True)
with experiment_lock(root):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_second_writer_exits_2_naming_the_holder_and_a_killed_holder_is_taken_over(tmp_path):
    cfg = tiny_config(tmp_path)
    args = ["bench", *TINY_ARGS, "--out", cfg.out, "--cache-dir", cfg.cache_dir, "--name", cfg.name]
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(cfg.experiment_dir)], env=cli_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
        assert busy.exit_code == 2, busy.output
        assert f"is in use by pid {holder.pid} on " in busy.output and "another `alseg bench`" in busy.output
        assert not (cfg.experiment_dir / "runs").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # The killed holder's lock and owner files are still there; the OS lock died with it.
    assert json.loads((cfg.experiment_dir / ".lock.owner").read_text())["pid"] == holder.pid
    again = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert again.exit_code == 0, again.output
    assert not (cfg.experiment_dir / ".lock.owner").exists()


# --- determinism records -------------------------------------------------------------------------------------


def test_environment_records_versions_device_and_determinism_flags(tmp_path, synthetic32):
    cfg = tiny_config(tmp_path, rounds=0)
    run_benchmark(cfg, data=synthetic32)
    env = json.loads((cfg.experiment_dir / "environment.json").read_text())
    for package in ("python", "alseg", "torch", "numpy", "segmentation-models-pytorch", "scikit-learn"):
        assert env["versions"][package], package
    assert env["device"]["type"] == "cpu"
    assert set(env["torch"]) >= {"num_threads", "deterministic_algorithms", "cudnn_deterministic",
                                 "cudnn_benchmark"}
    assert env["torch"]["num_threads"] == 1
    env["versions"]["numpy"] = "0.0-edited"
    (cfg.experiment_dir / "environment.json").write_text(json.dumps(env))
    with pytest.warns(UserWarning, match=r"different package versions \(numpy 0.0-edited -> "):
        run_benchmark(cfg, data=synthetic32)
    history = json.loads((cfg.experiment_dir / "environment.json").read_text())["history"]
    assert history[-1]["versions"]["numpy"] == "0.0-edited"


# --- isolation of broken strategies --------------------------------------------------------------------------

BAD_MODULE = '''
import time

import numpy as np
import torch

from alseg.strategies.base import Strategy, check_scores
from alseg.strategies.selection import top_k


class _Bad(Strategy):
    """Behaves in round 0 (so one finished round is stored), misbehaves from round 1 on."""

    description = "misbehaving test plugin"

    def select(self, ctx, budget):
        return ctx.pool[:budget] if ctx.round == 0 else self.misbehave(ctx, budget)


class Raises(_Bad):
    name = "bad-raises"

    def misbehave(self, ctx, budget):
        raise RuntimeError("boom in round 1")


class TooFew(_Bad):
    name = "bad-too-few"

    def misbehave(self, ctx, budget):
        return ctx.pool[: budget - 1]


class Duplicates(_Bad):
    name = "bad-duplicates"

    def misbehave(self, ctx, budget):
        return [int(ctx.pool[0])] * budget


class Outside(_Bad):
    name = "bad-outside"

    def misbehave(self, ctx, budget):
        return ctx.labeled[:budget]  # already labeled: not in the pool


class NanTopK(_Bad):
    name = "bad-nan-topk"

    def misbehave(self, ctx, budget):
        return ctx.pool[top_k(np.full(len(ctx.pool), np.nan), budget)]


class NanChecked(_Bad):
    name = "bad-nan-checked"

    def misbehave(self, ctx, budget):
        scores = np.full(len(ctx.pool), np.nan)
        return ctx.pool[top_k(check_scores(self.name, scores, "margin scores"), budget)]


class Infinite(_Bad):
    name = "bad-inf"

    def misbehave(self, ctx, budget):
        scores = np.zeros(len(ctx.pool))
        scores[3] = np.inf
        return ctx.pool[top_k(check_scores(self.name, scores, "margin scores"), budget)]


class Sleeps(_Bad):
    name = "bad-sleeps"

    def misbehave(self, ctx, budget):
        time.sleep(120)
        return ctx.pool[:budget]


class SwallowsTimeout(_Bad):
    name = "bad-swallows-timeout"

    def misbehave(self, ctx, budget):
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            try:
                time.sleep(0.1)
            except Exception:
                pass
        return ctx.pool[:budget]


class Exits(_Bad):
    name = "bad-exits"

    def misbehave(self, ctx, budget):
        raise SystemExit(3)


class NanLoss(Strategy):
    """Its unlabeled training term turns NaN after the first selection."""

    name = "bad-nan-loss"
    description = "extra_loss returns NaN from round 1 on (test plugin)"
    needs = frozenset({"unlabeled_loss"})
    poisoned = False

    def select(self, ctx, budget):
        self.poisoned = True
        return ctx.pool[:budget]

    def extra_loss(self, out, labeled):
        if labeled or not self.poisoned:
            return None
        return out.logits.float().mean() * torch.tensor(float("nan"))
'''

BAD_NAMES = {
    "bad-raises": "Raises", "bad-too-few": "TooFew", "bad-duplicates": "Duplicates", "bad-outside": "Outside",
    "bad-nan-topk": "NanTopK", "bad-nan-checked": "NanChecked", "bad-inf": "Infinite", "bad-sleeps": "Sleeps",
    "bad-swallows-timeout": "SwallowsTimeout", "bad-exits": "Exits", "bad-nan-loss": "NanLoss",
}


@pytest.fixture
def bad_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution 'badplug 0.1' on sys.path: misbehaving strategies and two that fail to import."""
    site = tmp_path / "site"
    dist = site / "badplug-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 0.1\n")
    eps = "".join(f"{name} = badplug_mod:{cls}\n" for name, cls in BAD_NAMES.items())
    eps += "bad-missing = badplug_missing:Nope\nbad-import-error = badplug_explodes:Strategy\n"
    (dist / "entry_points.txt").write_text("[alseg.strategies]\n" + eps)
    (site / "badplug_mod.py").write_text(BAD_MODULE)
    (site / "badplug_explodes.py").write_text('raise RuntimeError("kaboom at import\\nsecond line of the error")\n')
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for mod in ("badplug_mod", "badplug_explodes"):
        sys.modules.pop(mod, None)


# What each misbehaviour must produce: (status, fragments of the stored message).
EXPECTED = {
    "bad-raises": ("error", ["RuntimeError: boom in round 1", "badplug_mod.py:", "ALSEG_DEBUG=1"]),
    "bad-too-few": ("error", ["strategy 'bad-too-few' returned 3 ids for budget 4"]),
    "bad-duplicates": ("error", ["strategy 'bad-duplicates' returned", "duplicates:", "4 distinct ids"]),
    "bad-outside": ("error", ["strategy 'bad-outside' returned ids not in the pool"]),
    "bad-nan-topk": ("error", ["ValueError: scores contain", "non-finite value(s) (NaN or inf)"]),
    "bad-nan-checked": ("error", ["strategy 'bad-nan-checked' produced 290 non-finite margin scores"]),
    "bad-inf": ("error", ["strategy 'bad-inf' produced 1 non-finite margin scores"]),
    "bad-sleeps": ("timeout", ["strategy 'bad-sleeps' select() in round 1 ran past --selection-timeout 1 s"]),
    "bad-swallows-timeout": ("timeout", ["ran past --selection-timeout 1 s (it caught the timeout"]),
    "bad-exits": ("error", ["SystemExit: 3"]),
    "bad-nan-loss": ("error", ["round 1: the training loss became non-finite at epoch 1, step 1",
                               "extra_loss on an unlabeled batch = nan", "fix the strategy's extra_loss"]),
}


@pytest.mark.slow
def test_misbehaving_strategies_end_only_their_own_runs(bad_plugin, tmp_path, capsys):
    cfg = tiny_config(tmp_path)
    names = [*EXPECTED, "random"]
    args = ["bench", *[a for a in TINY_ARGS if a != "--no-plugins"], "--rounds", "2", "--selection-timeout", "1",
            "--strategies", ",".join(names), "--out", cfg.out, "--cache-dir", cfg.cache_dir, "--name", "bad"]
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250", "ALSEG_DEBUG": None})
    elapsed = time.perf_counter() - t0
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    exp = Path(cfg.out) / "bad"
    report = []
    for name, (status, fragments) in EXPECTED.items():
        stored = json.loads((exp / "runs" / name / "seed-0.status.json").read_text())
        report.append(f"{name}: {stored['status']}: {stored['message']}")
        assert stored["status"] == status, stored
        assert stored["message"].startswith(f"{name} seed 0"), stored
        for fragment in fragments:
            assert fragment in stored["message"], (name, fragment, stored["message"])
        # Round 0 finished before the misbehaviour and stays stored.
        lines = (exp / "runs" / name / "seed-0.jsonl").read_text().splitlines()
        assert [json.loads(line)["round"] for line in lines] == [0], name
        assert stored["rounds"] == 1
    assert json.loads((exp / "runs" / "random" / "seed-0.status.json").read_text())["status"] == "done"
    assert len((exp / "runs" / "random" / "seed-0.jsonl").read_text().splitlines()) == 3
    board = (exp / "leaderboard.md").read_text()
    assert "Runs left out of the numbers (failed, interrupted or still running):" in board
    for name, (status, _) in EXPECTED.items():
        assert f"⚠ {name} seed 0: {status}" in board, name
    with capsys.disabled():
        print(f"\nmisbehaving strategies ({elapsed:.0f} s):\n  " + "\n  ".join(report))


def test_a_strategy_failing_before_its_first_round_is_marked_in_the_leaderboard(bad_plugin, tmp_path, monkeypatch,
                                                                                  synthetic32):
    from alseg.report.load import load_experiment

    cfg = tiny_config(tmp_path, rounds=1, plugins=True, strategies="bad-exits,random")
    # bad-exits misbehaves from round 1 on; here it fails in round 0, before any record is stored.
    cls = discover()["bad-exits"].cls
    monkeypatch.setattr(cls, "select", lambda self, ctx, budget: self.misbehave(ctx, budget))
    result = run_benchmark(cfg, data=synthetic32)
    assert {r.strategy: r.status for r in result.runs} == {"bad-exits": "error", "random": "done"}
    assert not (cfg.experiment_dir / "runs" / "bad-exits" / "seed-0.jsonl").exists()
    _, runs, _ = load_experiment(cfg.experiment_dir)
    row = runs[runs["strategy"] == "bad-exits"].iloc[0]
    assert (row["status"], row["rounds"]) == ("error", 0) and "SystemExit: 3" in row["message"]


def test_broken_plugins_are_listed_without_traceback_and_never_stop_the_builtins(bad_plugin, tmp_path):
    reg = discover()
    assert reg["bad-missing"].broken and reg["bad-missing"].error.startswith("ModuleNotFoundError")
    assert reg["bad-import-error"].error == "RuntimeError: kaboom at import"
    listing = CliRunner().invoke(app, ["strategies"], env={"COLUMNS": "250"})
    assert listing.exit_code == 0 and "Traceback" not in listing.output
    assert "kaboom at import" in listing.output and "second line" not in listing.output
    assert {"random", "entropy", "coreset", "asa", "proposed"} <= {s.run_name for s in resolve("all", reg)}
    assert "bad-missing" not in {s.run_name for s in resolve("all", reg)}
    cfg = tiny_config(tmp_path, strategies="all", plugins=False)  # what --no-plugins sets
    from alseg.bench import resolve_strategies

    assert {s.run_name for s in resolve_strategies(cfg)} == {"random", "entropy", "coreset", "asa", "proposed"}


def test_time_limit_interrupts_and_restores_the_alarm():
    with pytest.raises(SelectionTimeout, match=r"ran past --selection-timeout 0\.2 s"):
        with time_limit(0.2, "sleeper"):
            time.sleep(5)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with time_limit(5, "fast"):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --- numerical faults ------------------------------------------------------------------------------------------


def test_a_huge_learning_rate_stops_the_run_with_round_epoch_step_and_the_fix(tmp_path, synthetic32):
    cfg = tiny_config(tmp_path, lr=1e30, initial_epochs=2)
    (status,) = run_benchmark(cfg, data=synthetic32).runs
    assert status.status == "error"
    assert "random seed 0, round 0: the training loss became non-finite at epoch 2, step 1" in status.message
    assert "Lower the learning rate (--lr)" in status.message
    stored = json.loads((cfg.experiment_dir / "runs" / "random" / "seed-0.status.json").read_text())
    assert stored["status"] == "error" and stored["message"] == status.message


def test_a_diverged_model_is_blamed_on_training_not_on_the_strategy(tmp_path, synthetic32):
    cfg = tiny_config(tmp_path, lr=1e30)  # one step per round: the loss is finite, the outputs are not
    (status,) = run_benchmark(cfg, data=synthetic32).runs
    assert status.status == "error"
    assert "round 0: the trained model gives non-finite outputs" in status.message
    assert "training diverged. Lower the learning rate (--lr)" in status.message


# --- data faults -------------------------------------------------------------------------------------------------


def write_folder(root: Path, n: int = 12, size: int = 20) -> Path:
    """A tiny images/ + masks/ dataset of PNGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        mask = np.zeros((size, size), np.uint8)
        mask[5 : 5 + i % 8, 4:12] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    return root


def test_folder_dataset_exposes_a_per_file_manifest(tmp_path):
    data_dir = write_folder(tmp_path / "data")
    ds = load_folder(data_dir=data_dir, image_size=32, cache_dir=tmp_path / "cache")
    assert len(ds.manifest) == 24 and set(ds.manifest) >= {"images/0.png", "masks/11.png"}
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in ds.manifest.values())
    again = load_folder(data_dir=data_dir, image_size=32, cache_dir=tmp_path / "cache")  # from the cache
    assert again.manifest == ds.manifest


@pytest.mark.parametrize("change", ["added", "removed", "edited", "many", "split"])
def test_a_changed_data_folder_is_refused_naming_the_files(tmp_path, change):
    data_dir = write_folder(tmp_path / "data")
    cfg = tiny_config(tmp_path, dataset="folder", data_dir=str(data_dir), initial=4, budget=2, rounds=0)
    if change == "split":
        (data_dir / "split.json").write_text(json.dumps({"train": [str(i) for i in range(10)], "test": ["10", "11"]}))

    def open_it():
        ds = load_folder(data_dir=data_dir, image_size=32, cache_dir=tmp_path / "cache")
        open_experiment(RunSetup(cfg, ds, torch.device("cpu"), ExperimentStore(cfg.experiment_dir)), [], [])

    cfg.experiment_dir.mkdir(parents=True)
    open_it()
    info = json.loads((cfg.experiment_dir / "experiment.json").read_text())
    assert len(info["data_manifest"]) == 24 + (change == "split")
    open_it()  # the same data resumes
    from PIL import Image

    if change == "added":
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(data_dir / "images" / "12.png")
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(data_dir / "masks" / "12.png")
        expect = "added images/12.png, masks/12.png"
    elif change == "removed":
        (data_dir / "images" / "3.png").unlink()
        (data_dir / "masks" / "3.png").unlink()
        expect = "removed images/3.png, masks/3.png"
    elif change == "edited":
        Image.fromarray(np.full((20, 20), 255, np.uint8)).save(data_dir / "masks" / "7.png")
        expect = "edited masks/7.png"
    elif change == "many":
        for i in range(12):
            Image.fromarray(np.full((20, 20, 3), i, np.uint8)).save(data_dir / "images" / f"{i}.png")
        expect = "edited images/0.png, images/1.png, images/10.png, images/11.png, images/2.png, images/3.png, " \
                 "images/4.png, images/5.png, images/6.png, images/7.png and 2 more"
    else:
        (data_dir / "split.json").write_text(json.dumps({"train": [str(i) for i in range(9)], "test": ["9", "10"]}))
        expect = "edited split.json"
    with pytest.raises(AlsegUsageError) as exc:
        open_it()
    msg = str(exc.value)
    assert f"the data changed since the experiment began: {expect}" in msg, msg
    if change != "split":
        assert "data_fingerprint: stored" in msg


def test_synthetic_data_has_an_empty_manifest(synthetic32):
    assert synthetic32.manifest == {}
