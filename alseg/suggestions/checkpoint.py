"""model.pt of `alseg suggest`: the trained weights with the config they were trained with and the labeled names.

It is what continues the annotation loop (the next call in the same --out fine-tunes from it) and what
`--model` reads. A file that is missing, damaged, not written by suggest, or trained with another encoder or
image size is refused with a usage error naming the file and the fix.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alseg import __version__
from alseg.config import BenchConfig
from alseg.errors import AlsegUsageError
from alseg.models import SegModel, build_model, place
from alseg.store import atomic_write_bytes

FORMAT = "alseg-suggest-model"
FORMAT_VERSION = 1
#: The settings a checkpoint must share with the call that uses it: they fix the network and its input.
MUST_MATCH = ("encoder", "image_size")


@dataclass(frozen=True)
class Checkpoint:
    """One model.pt: weights, the config they were trained with, the labeled names, round, strategy and seed."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]
    labeled: list[str]
    round: int
    strategy: str
    seed: int
    alseg_version: str


def save_checkpoint(path: Path, model: SegModel, config: dict[str, Any], labeled: list[str], round_: int,
                    strategy: str, seed: int) -> None:
    """Write model.pt atomically (readers never see half a file); every value loads with weights_only=True."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "alseg_version": __version__,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "config": dict(config),
               "labeled": list(labeled), "round": int(round_), "strategy": strategy, "seed": int(seed)}
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: Path, what: str, fix: str) -> Checkpoint:
    """Read a model.pt written by suggest; `what` names it in messages ('--model PATH'), `fix` says what to do."""
    if not path.is_file():
        raise AlsegUsageError(f"{what}: {path} does not exist; {fix}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn, truncated or foreign file fails in many ways
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        raise AlsegUsageError(f"{what}: {path} cannot be read ({reason}); it is damaged or not a model.pt written "
                              f"by `alseg suggest`; {fix}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise AlsegUsageError(f"{what}: {path} is not a model.pt written by `alseg suggest` (an `alseg bench` "
                              f"checkpoint or another model file has no training config); {fix}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise AlsegUsageError(f"{what}: {path} has model.pt format {raw.get('format_version')!r}, this alseg reads "
                              f"{FORMAT_VERSION}; {fix}")
    try:
        return Checkpoint(path=path, state_dict=dict(raw["state_dict"]), config=dict(raw["config"]),
                          labeled=[str(n) for n in raw["labeled"]], round=int(raw["round"]),
                          strategy=str(raw["strategy"]), seed=int(raw["seed"]),
                          alseg_version=str(raw.get("alseg_version", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise AlsegUsageError(f"{what}: {path} lacks part of a suggest model.pt ({type(exc).__name__}: {exc}); "
                              f"{fix}") from None


def mismatches(ckpt: Checkpoint, cfg: BenchConfig) -> list[tuple[str, Any, Any]]:
    """(setting, checkpoint's value, this call's value) for each MUST_MATCH setting that differs."""
    return [(name, ckpt.config.get(name), getattr(cfg, name)) for name in MUST_MATCH
            if ckpt.config.get(name) != getattr(cfg, name)]


def check_fits(ckpt: Checkpoint, cfg: BenchConfig, what: str, fix: str) -> None:
    """Refuse a checkpoint trained with another encoder or image size than this call's, naming both."""
    wrong = mismatches(ckpt, cfg)
    if wrong:
        then = " ".join(f"--{n.replace('_', '-')} {old}" for n, old, _ in wrong)
        now = " ".join(f"--{n.replace('_', '-')} {new}" for n, _, new in wrong)
        raise AlsegUsageError(f"{what}: {ckpt.path} was trained with {then}, but this call uses {now}: pass {then} "
                              f"(or the --preset it was trained with), or {fix}")


def model_from(ckpt: Checkpoint, cfg: BenchConfig, device: torch.device, what: str, fix: str) -> SegModel:
    """The checkpoint's weights in this call's network (its encoder), placed on the device."""
    model = build_model(cfg.encoder, "none", 0)
    try:
        model.load_state_dict(ckpt.state_dict)
    except (RuntimeError, KeyError) as exc:
        raise AlsegUsageError(f"{what}: {ckpt.path} does not fit the {cfg.encoder} network "
                              f"({str(exc).splitlines()[0][:200]}); {fix}") from None
    return place(model, device)
