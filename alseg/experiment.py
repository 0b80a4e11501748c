"""What every run of one experiment shares: config, data, device, store, the seed's L0 and initial weights.

Also the experiment's identity on disk: `open_experiment` writes (or checks) the protocol, so that runs
made under another protocol, device or precision never mix into one folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alseg import __version__
from alseg.config import BenchConfig, protocol_hash, protocol_of, to_toml
from alseg.datasets.base import SegDataset
from alseg.environment import environment_record
from alseg.errors import AlsegUsageError
from alseg.extra_test import ExtraTest, check_extra_tests
from alseg.models import SegModel, build_model, place
from alseg.precision import FP32, Precision, legacy_precision
from alseg.seeding import derive_seed, numpy_rng
from alseg.store import ExperimentStore
from alseg.strategies.registry import StrategySpec
from alseg.train import TrainSettings

FULL_RUN = "full"  # the run name of the full-supervision ceiling
# Keys added to the protocol after the first experiments were stored: their value for a folder written
# before, read from its environment.json (the device it ran on; alseg then trained in fp32 on CPUs
# and in bf16 autocast on GPUs).
LATER_PROTOCOL_KEYS = ("device", "precision")


@dataclass(frozen=True)
class RunSetup:
    """What all runs of an experiment share: config, data, device, the resolved precision and the store."""

    cfg: BenchConfig
    data: SegDataset
    device: torch.device
    store: ExperimentStore
    precision: Precision = FP32
    extra_tests: tuple[ExtraTest, ...] = ()  # --extra-test: other datasets' test splits, evaluated every round
    replay_from: Path | None = None  # --replay: the experiment whose stored selections the runs take

    @cached_property
    def images(self) -> np.ndarray | torch.Tensor:
        """The uint8 images where the model runs: the arrays on a CPU, one copy on the GPU (converted per batch)."""
        return on_device(self.data.images, self.device)

    @cached_property
    def masks(self) -> np.ndarray | torch.Tensor:
        """The boolean masks, placed like `images`."""
        return on_device(self.data.masks, self.device)

    @property
    def infer_batch(self) -> int:
        """Batch size of evaluation, the pool pass and ctx.predict: larger on a GPU (eval mode: same results)."""
        return self.cfg.batch_size * (GPU_INFER_FACTOR if self.device.type == "cuda" else 1)


GPU_INFER_FACTOR = 8  # a GPU's pool pass and evaluation run 8 training batches at once (no gradients kept)


def on_device(array: np.ndarray, device: torch.device) -> np.ndarray | torch.Tensor:
    """`array` itself on a CPU; on an accelerator, a tensor copied there once (batches are then indexed on it)."""
    if device.type == "cpu":
        return array
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def initial_labeled(data: SegDataset, initial: int, seed: int) -> np.ndarray:
    """L0: `initial` pool images drawn with the seed's 'initial' stream (the same for every strategy)."""
    rng = numpy_rng(seed, data.name, "initial")
    return np.sort(rng.choice(data.train, size=initial, replace=False))


def init_seed(data: SegDataset, seed: int) -> int:
    """The seed of the model's initial weights (the same for every strategy of a seed)."""
    return derive_seed(seed, data.name, "init")


def train_settings(cfg: BenchConfig, epochs: int) -> TrainSettings:
    """The config's training recipe for `epochs` epochs (AL rounds, ensemble members and the ceiling)."""
    return TrainSettings(epochs, cfg.batch_size, cfg.lr, cfg.augment, cfg.schedule)


def new_model(cfg: BenchConfig, seed: int, device: torch.device) -> SegModel:
    """The config's U-Net with weights initialised from `seed`, placed on the device."""
    return place(build_model(cfg.encoder, cfg.encoder_weights, seed), device)


def weights_sha(cfg: BenchConfig) -> str:
    """SHA-256 of a local encoder weights file (part of the protocol), '' otherwise."""
    if cfg.encoder_weights in ("imagenet", "none"):
        return ""
    path = Path(cfg.encoder_weights)
    if not path.is_file():
        raise AlsegUsageError(f"--encoder-weights: '{path}' is neither 'imagenet', 'none' nor an existing file")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def experiment_protocol(cfg: BenchConfig, data: SegDataset, device: torch.device,
                        precision: Precision = FP32) -> dict[str, Any]:
    """The settings that must agree for runs to merge or resume: config, data, device type and precision."""
    return {**protocol_of(cfg, data.fingerprint, weights_sha(cfg)), "device": device.type,
            "precision": precision.protocol}


def stored_protocol(store: ExperimentStore, info: dict[str, Any]) -> dict[str, Any]:
    """The protocol of an existing experiment, completed with the keys added since it was written."""
    protocol = dict(info.get("protocol", {}))
    if all(k in protocol for k in LATER_PROTOCOL_KEYS):
        return protocol
    device = torch.device(str(store.read_environment().get("device", {}).get("type", "cpu")))
    protocol.setdefault("device", device.type)
    protocol.setdefault("precision", legacy_precision(device.type))
    return protocol


def open_experiment(setup: RunSetup, specs: list[StrategySpec], warnings: list[str]) -> None:
    """Create or reopen the experiment folder; refuse one made under another protocol (under the lock)."""
    cfg, data, store = setup.cfg, setup.data, setup.store
    protocol = experiment_protocol(cfg, data, setup.device, setup.precision)
    manifest = dict(data.manifest or {})
    old = store.read_experiment() or {}
    if old:
        store.check_protocol(protocol, manifest, stored=stored_protocol(store, old))
        check_extra_tests(old.get("extra_tests"), setup.extra_tests, store.root)
        check_replay_source(old.get("replay_of"), replay_info(setup), store.root)
    store.remove_stale_temps()  # left by a writer killed between writing a temp file and renaming it
    info = {
        "protocol": protocol,
        "protocol_hash": protocol_hash(protocol),
        "strategies": sorted(set(old.get("strategies", [])) | {s.run_name for s in specs}),
        "providers": {**old.get("providers", {}), **{s.run_name: s.provider for s in specs}},
        "labels": {**old.get("labels", {}), **{s.run_name: s.label for s in specs}},
        "seeds": max(int(old.get("seeds", 0)), cfg.seeds),
        "full": bool(old.get("full")) or cfg.full,
        "split_source": data.split_source,
        "n_train": len(data.train),
        "n_test": len(data.test),
        "alseg_version": __version__,
        "data_manifest": manifest,
        "warnings": sorted(set(old.get("warnings", [])) | set(warnings)),
    }
    if setup.extra_tests:
        info["extra_tests"] = [t.info() for t in setup.extra_tests]
    if setup.replay_from is not None:
        info["replay_of"] = replay_info(setup)
    store.write_experiment(info, to_toml(cfg))
    store.write_environment(environment_record(setup.device, setup.precision))



def replay_info(setup: RunSetup) -> dict[str, Any] | None:
    """What experiment.json records of a --replay source: its folder and protocol hash (None without --replay)."""
    if setup.replay_from is None:
        return None
    info = ExperimentStore(setup.replay_from).read_experiment() or {}
    return {"experiment": str(setup.replay_from), "protocol_hash": info.get("protocol_hash", "")}


def check_replay_source(stored: dict[str, Any] | None, now: dict[str, Any] | None, folder: Path) -> None:
    """Refuse to resume a folder of replayed runs without --replay (or a folder of selected runs with it)."""
    if (stored is None) == (now is None):
        return
    if stored is None:
        raise AlsegUsageError(f"{folder}: its runs select their own images; --replay writes a folder of its own: "
                              "choose one with --name")
    raise AlsegUsageError(f"{folder}: its runs replay the selections of {stored['experiment']}; resume it with "
                          f"--replay {stored['experiment']}")
