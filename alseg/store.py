"""The results store: one JSON-lines file per (strategy, seed) run, appended a whole round at a time.

Layout of `results/<experiment>/`: `config.toml` (the resolved config), `experiment.json` (protocol and
its hash), `environment.json` (versions, device), `runs/<run name>/seed-<s>.jsonl` (one line per
finished round), `runs/<run name>/seed-<s>.status.json` (done / error / timeout and a message), and
`.checkpoints/` (model weights between rounds; never committed, removed when a run finishes).
A line is appended with one write and fsync; a torn last line from a crash is reported and dropped.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alseg import faults
from alseg.errors import AlsegError, AlsegUsageError
from alseg.records import RoundRecord

TEMP_SUFFIX = ".tmp"  # temporary files are ".<name>.<random>.tmp" next to their target


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file through a temporary name in the same folder and rename it into place."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes, fault: str = "") -> None:
    """Write bytes atomically: temp file, fsync, os.replace (`fault`: a fault point hit before the rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if fault:
            faults.fault_point(fault)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TornRecordWarning(UserWarning):
    """A run file ended in a partial line (a crash mid-write); the fragment was dropped."""


@dataclass
class RunFile:
    """The append-only record file of one (strategy run name, seed)."""

    path: Path

    @property
    def status_path(self) -> Path:
        return self.path.with_suffix(".status.json")

    def records(self) -> list[dict[str, Any]]:
        """Complete round records in order; a torn last line is dropped (and removed) with a warning."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        cut = raw.rfind(b"\n") + 1
        if cut < len(raw):
            warnings.warn(
                f"{self.path}: dropped a partial last line ({len(raw) - cut} bytes) left by an interrupted write",
                TornRecordWarning,
                stacklevel=2,
            )
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
        out = []
        for lineno, line in enumerate(raw[:cut].splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise AlsegError(f"{self.path}:{lineno} is not valid JSON ({err}); the file is damaged") from err
        for i, rec in enumerate(out):
            if rec.get("round") != i:
                raise AlsegError(f"{self.path}: record {i + 1} has round {rec.get('round')}, expected {i}")
        return out

    def append(self, record: RoundRecord) -> None:
        """Append one record as a single line, flushed and fsynced before returning.

        With ALSEG_FAULT=record-write:N the line is written in two halves with the fault point between
        them, so that a test can leave a real torn line behind.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = record.to_line()
        with open(self.path, "ab") as fh:
            if faults.armed("record-write"):
                half = len(line) // 2
                fh.write(line[:half])
                fh.flush()
                os.fsync(fh.fileno())
                faults.fault_point("record-write")
                line = line[half:]
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def round_records(self) -> list[RoundRecord]:
        """The complete records as RoundRecord objects."""
        return [RoundRecord.from_json(rec) for rec in self.records()]

    def keep_first(self, n: int) -> None:
        """Drop every record after the first `n` (a run restarting from an earlier round), atomically."""
        lines = self.path.read_bytes().splitlines(keepends=True) if self.path.exists() else []
        atomic_write_bytes(self.path, b"".join(lines[:n]))

    def status(self) -> dict[str, Any] | None:
        """The stored status of the run, or None if it never ended."""
        try:
            return json.loads(self.status_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def set_status(self, status: str, message: str = "", **extra: Any) -> None:
        """Record how the run ended: done | skip | error | timeout | interrupted."""
        atomic_write_text(self.status_path, json.dumps({"status": status, "message": message, **extra},
                                                       sort_keys=True, indent=1) + "\n")


def manifest_changes(old: dict[str, str] | None, new: dict[str, str] | None, limit: int = 10) -> str:
    """Files added, removed or edited between two data manifests, up to `limit` names each ('' if none)."""
    if not old or new is None:
        return ""

    def some(names: list[str]) -> str:
        shown = ", ".join(names[:limit])
        return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"

    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    edited = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    parts = [f"{what} {some(names)}" for what, names in (("added", added), ("removed", removed),
                                                          ("edited", edited)) if names]
    return "; ".join(parts)


def safe_name(run_name: str) -> str:
    """A run name as a folder name (parameters keep their readable form; path separators are replaced)."""
    return run_name.replace("/", "_").replace("\\", "_").replace(os.sep, "_")


class ExperimentStore:
    """The folder of one experiment: its config, protocol, environment and run files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def run_file(self, run_name: str, seed: int) -> RunFile:
        return RunFile(self.root / "runs" / safe_name(run_name) / f"seed-{seed}.jsonl")

    def checkpoint_path(self, run_name: str, seed: int, round_: int) -> Path:
        """Weights after `round_`; one file per round, so a torn record never leaves a newer checkpoint."""
        return self.root / ".checkpoints" / safe_name(run_name) / f"seed-{seed}.round-{round_}.pt"

    def remove_checkpoints(self, run_name: str, seed: int, keep: int | None = None) -> None:
        """Delete a run's checkpoints except the one of round `keep`."""
        folder = self.root / ".checkpoints" / safe_name(run_name)
        for path in folder.glob(f"seed-{seed}.round-*.pt"):
            if keep is None or path.name != f"seed-{seed}.round-{keep}.pt":
                path.unlink(missing_ok=True)

    def remove_stale_temps(self) -> list[Path]:
        """Delete temporary files left by a writer that was killed before its rename (call under the lock)."""
        places = [self.root, *(p for p in (self.root / "runs", self.root / ".checkpoints") if p.is_dir())]
        stale = [p for place in places
                 for p in (place.glob(f".*{TEMP_SUFFIX}") if place == self.root else place.rglob(f".*{TEMP_SUFFIX}"))
                 if p.is_file()]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    @property
    def experiment_file(self) -> Path:
        return self.root / "experiment.json"

    def read_experiment(self) -> dict[str, Any] | None:
        """experiment.json of an existing experiment, or None."""
        try:
            return json.loads(self.experiment_file.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as err:
            raise AlsegError(f"{self.experiment_file} is damaged ({err}); move the folder aside") from err

    def check_protocol(self, protocol: dict[str, Any], manifest: dict[str, str] | None = None,
                       stored: dict[str, Any] | None = None) -> None:
        """Refuse to mix runs made under a different protocol into this folder.

        `manifest` (source file -> short sha256) is compared with the stored `data_manifest`, so that a
        changed data folder is refused naming the files added, removed or edited. `stored`, when given,
        is the stored protocol completed with keys added since it was written.
        """
        existing = self.read_experiment()
        if existing is None:
            return
        old = stored if stored is not None else existing.get("protocol", {})
        diffs = [k for k in sorted(set(old) | set(protocol)) if old.get(k) != protocol.get(k)]
        # A file outside the fingerprint (the split file) can change the manifest alone.
        changed = manifest_changes(existing.get("data_manifest"), manifest)
        if diffs or changed:
            detail = "; ".join([f"{k}: stored {old.get(k)!r}, now {protocol.get(k)!r}" for k in diffs]
                               + ([f"the data changed since the experiment began: {changed}"] if changed else []))
            raise AlsegUsageError(
                f"results folder {self.root} holds an experiment with another configuration ({detail}). "
                "Use --name NEW to start a new experiment (or --new to pick a fresh name), or rerun with the "
                "stored settings: alseg bench --config " + str(self.root / "config.toml")
            )

    def write_experiment(self, info: dict[str, Any], config_toml: str) -> None:
        """Write experiment.json and config.toml atomically."""
        atomic_write_text(self.experiment_file, json.dumps(info, sort_keys=True, indent=1) + "\n")
        atomic_write_text(self.root / "config.toml", config_toml)

    def read_environment(self) -> dict[str, Any]:
        """environment.json of this experiment, or {} when there is none (or it is unreadable)."""
        try:
            return json.loads((self.root / "environment.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def write_environment(self, env: dict[str, Any]) -> None:
        """Record versions and device; warn when a resume runs under different versions."""
        path = self.root / "environment.json"
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except json.JSONDecodeError:
                old = {}
            changed = {k: (old.get("versions", {}).get(k), v) for k, v in env.get("versions", {}).items()
                       if old.get("versions", {}).get(k) not in (None, v)}
            if changed:
                text = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
                warnings.warn(f"resuming {self.root} under different package versions ({text}); "
                              "results may not be bit-identical to the earlier rounds", stacklevel=2)
            history = old.get("history", [])
            history.append({k: v for k, v in old.items() if k != "history"})
            env = {**env, "history": history[-20:]}
        atomic_write_text(path, json.dumps(env, sort_keys=True, indent=1) + "\n")

    def run_files(self) -> list[tuple[str, int, RunFile]]:
        """(run folder name, seed, file) for every run with a record file or a status (failed before round 0)."""
        runs = self.root / "runs"
        paths = set(runs.glob("*/seed-*.jsonl"))
        for status in runs.glob("*/seed-*.status.json"):
            paths.add(status.with_name(status.name.removesuffix(".status.json") + ".jsonl"))
        out = []
        for path in sorted(paths):
            seed = int(path.stem.split("-", 1)[1])
            out.append((path.parent.name, seed, RunFile(path)))
        return out
