"""--executor ray: Ray tasks store the records of an in-process run; reruns submit nothing; dead workers resume.

The Ray tests run on one private local Ray started by alseg's own `start_local_ray` (2 CPUs, no dashboard,
127.0.0.1 only, which the first test checks on the sockets themselves); they skip when ray is not installed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import TINY_ARGS, read_records, snapshot, tiny_config

from alseg import faults
from alseg.bench import run_benchmark
from alseg.errors import AlsegUsageError
from alseg.events import Note, RunStarted
from alseg.executors.ray import check_resources, connect_ray, ray_threads

RUNS = "random,entropy"
PROTOCOL = {"strategies": RUNS, "seeds": 2, "rounds": 2}  # 2 shared rounds 0 + 4 runs


def _records(root: Path) -> dict[tuple[str, str], list[dict]]:
    """Every run file's records without the timing and context fields ('workers', 'computed_on')."""
    out = {}
    for path in sorted((root / "runs").glob("*/seed-*.jsonl")):
        out[(path.parent.name, path.name)] = read_records(path)
    return out


def _statuses(root: Path) -> set[str]:
    return {json.loads(p.read_text())["status"] for p in (root / "runs").glob("*/seed-*.status.json")}


@pytest.fixture(scope="module")
def local_ray():
    """alseg's own private local Ray (2 CPUs), shared by this module's Ray tests."""
    ray = pytest.importorskip("ray", reason='ray is not installed (pip install "alseg[ray]")')
    from alseg.executors.ray import start_local_ray

    if ray.is_initialized():
        ray.shutdown()
    start_local_ray(ray, 2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same protocol run in this process, one run after another."""
    root = tmp_path_factory.mktemp("in-process")
    result = run_benchmark(tiny_config(root, name="ref", **PROTOCOL))
    assert not result.failed
    return _records(result.experiment_dir)


def _ray_bench(root: Path, name: str, events: list | None = None, **overrides):
    cfg = tiny_config(root, name=name, executor="ray", workers=2, **{**PROTOCOL, **overrides})
    return run_benchmark(cfg, emit=events.append if events is not None else lambda event: None)


def _socket_owners(pids: set[int]) -> set[str]:
    """The inodes of the sockets the processes `pids` hold open."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:  # the process ended meanwhile
            continue
    return inodes


def _descendants(root: int) -> set[int]:
    """Every process below `root` (Ray's GCS, raylet, agents and workers are started below the driver)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _listening(inodes: set[str]) -> list[str]:
    """Local addresses (hex, as /proc/net shows them) of the listening TCP sockets among `inodes`."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                out.append(cols[1].split(":")[0])
    return out


def _is_loopback(hex_ip: str) -> bool:
    """127.0.0.0/8 (IPv4, little-endian hex), ::1 or ::ffff:127.x.y.z (IPv6, four little-endian words)."""
    if len(hex_ip) == 8:
        return hex_ip[6:8] == "7F"
    return hex_ip in ("00000000000000000000000001000000",) or (
        hex_ip[:24] == "0000000000000000FFFF0000" and hex_ip[30:32] == "7F")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the sockets from /proc (Linux)")
@pytest.mark.slow
def test_the_private_local_ray_listens_on_127_0_0_1_only_and_has_no_dashboard(local_ray):
    from alseg.executors.ray import LOOPBACK, gcs_host

    assert gcs_host(local_ray) in LOOPBACK
    addresses = _listening(_socket_owners(_descendants(os.getpid())))
    assert addresses, "found no listening socket of the Ray processes"
    assert all(_is_loopback(a) for a in addresses), addresses
    assert not local_ray._private.worker.global_worker.node.address_info.get("webui_url")


@pytest.mark.slow
def test_ray_stores_the_records_of_an_in_process_run_and_a_rerun_submits_nothing(local_ray, reference, tmp_path,
                                                                                monkeypatch):
    result = _ray_bench(tmp_path, "ray")
    assert not result.failed and _statuses(result.experiment_dir) == {"done"}
    assert _records(result.experiment_dir) == reference and len(reference) == 4
    assert (result.experiment_dir / "leaderboard.md").is_file()
    assert json.loads((result.experiment_dir / "shared-round0.json").read_text()).keys() == {"0", "1"}

    from alseg.executors.ray import RayBackend

    submitted = []
    monkeypatch.setattr(RayBackend, "submit", lambda self, ticket, task, attempt: submitted.append(task))
    before = snapshot(result.experiment_dir / "runs")
    again = _ray_bench(tmp_path, "ray")
    assert submitted == [] and [r.status for r in again.runs] == ["done"] * 4
    assert snapshot(again.experiment_dir / "runs") == before


@pytest.fixture
def crash_each_first_attempt(monkeypatch):
    """ALSEG_FAULT=train-step:2 for the Ray tasks' first attempts; forgotten afterwards by this process too."""
    monkeypatch.setenv(faults.ENV, "train-step:2")
    yield
    monkeypatch.delenv(faults.ENV)
    faults.reset()


@pytest.mark.slow
def test_a_killed_ray_worker_is_resubmitted_from_its_stored_rounds(local_ray, reference, tmp_path,
                                                                   crash_each_first_attempt):
    events: list = []
    result = _ray_bench(tmp_path, "crash", events, seeds=1)  # one seed: each killed worker costs a new process
    assert not result.failed, [r.message for r in result.runs]
    notes = " ".join(e.text for e in events if isinstance(e, Note))
    assert "random seed 0: its worker process died (WorkerCrashedError); resubmitted from its stored rounds" in notes
    # a sharing run dies in round 2 (its 2nd training step): the resubmission starts with rounds 0 and 1 stored
    starts = [(e.run, e.seed, e.rounds_done) for e in events if isinstance(e, RunStarted)]
    assert ("random", 0, 0) in starts and ("random", 0, 2) in starts
    assert _records(result.experiment_dir) == {key: recs for key, recs in reference.items() if key[1] == "seed-0.jsonl"}


def test_without_ray_the_ray_executor_is_refused_with_the_install_hint(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from alseg.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = CliRunner().invoke(app, ["bench", *TINY_ARGS, "--executor", "ray", "--out", str(tmp_path / "r"),
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.output
    assert 'pip install "alseg[ray]"' in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--executor", "dask"], "--executor must be 'local' or 'ray', got 'dask'"),
    (["--address", "auto"], "--address auto only says which Ray cluster --executor ray joins"),
    (["--executor", "ray", "--devices", "cuda:0"], "--devices cuda:0: with --executor ray, Ray gives each run"),
])
def test_bad_executor_options_are_refused(tmp_path, args, message):
    from typer.testing import CliRunner

    from alseg.cli import app

    result = CliRunner().invoke(app, ["bench", *TINY_ARGS, "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_an_unreachable_cluster_is_a_usage_error_naming_the_address():
    def refuse(**kwargs):
        raise ConnectionError("Could not find any running Ray instance")

    with pytest.raises(AlsegUsageError, match=r"--address auto: cannot connect to a Ray cluster \(Could not find.*"
                                              r"ray start --head"):
        connect_ray(SimpleNamespace(init=lambda address, **kwargs: refuse()), "auto")


def _cluster(*resources: dict) -> SimpleNamespace:
    return SimpleNamespace(nodes=lambda: [{"Alive": True, "Resources": r} for r in resources]
                           + [{"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}])


def test_a_task_no_node_can_hold_is_refused_before_it_waits_forever():
    two_nodes = _cluster({"CPU": 4.0}, {"CPU": 8.0, "GPU": 2.0})
    assert check_resources(two_nodes, 8, 1) == "2 node(s), 12 CPUs, 2 GPUs"
    with pytest.raises(AlsegUsageError, match="--threads 16: each Ray task asks for 16 CPUs, but no node of the Ray "
                                              "cluster has more than 8; lower --threads"):
        check_resources(two_nodes, 16, 0)
    with pytest.raises(AlsegUsageError, match="asks for 1 GPU, but no node of the Ray cluster has one"):
        check_resources(_cluster({"CPU": 4.0}), 1, 1)  # the dead node's GPUs do not count


def test_ray_tasks_ask_for_the_given_threads_or_one_cpu():
    assert (ray_threads(0), ray_threads(1), ray_threads(4)) == (1, 1, 4)
