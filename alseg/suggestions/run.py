"""`alseg suggest` as one function: train on the labeled images (or load a model), select from the rest, write.

One call is one round of a user's own annotation loop. It resolves the config as `alseg bench` does (preset <
options), reads the folder (`alseg.datasets.partial`), trains on the labeled images with the recipe
(`initial_epochs` from the seed's initial weights; `epochs` when fine-tuning the previous round's model.pt in
--out), or takes `--model` as it is, then runs the benchmark's own selection (`alseg.round.select_next`: the
pool pass for the strategy's declared needs, SelectionContext, the seeded select, the validator) over the
images without a mask, and writes the picks. It renders nothing: progress goes out as events.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from filelock import FileLock, Timeout

from alseg import __version__
from alseg.bench import resolve_strategies
from alseg.config import BenchConfig, resolve_config
from alseg.datasets.checks import check_masks, foreground_fractions
from alseg.datasets.decode import decode_image
from alseg.datasets.partial import PartialFolder, load_partial
from alseg.environment import configure_torch, environment_record, package_versions, resolve_device
from alseg.errors import AlsegUsageError
from alseg.events import DataLoaded, DataLoading, Emit, EpochDone, Note, Phase, RoundStarted, ignore
from alseg.experiment import RunSetup, train_settings
from alseg.models import SegModel, build_model
from alseg.precision import Precision, resolve_precision
from alseg.round import RunPlan, Selection, select_next
from alseg.seeding import derive_seed, torch_generator
from alseg.store import ExperimentStore
from alseg.strategies.base import Strategy, StrategyContractError
from alseg.strategies.context import Predictor, SelectionContext
from alseg.strategies.needs import Needs, needs_of
from alseg.strategies.registry import StrategySpec
from alseg.suggestions.checkpoint import Checkpoint, check_fits, model_from, read_checkpoint, save_checkpoint
from alseg.suggestions.events import PoolCounter, pool_pass_images
from alseg.suggestions.labeled import MASKED, LabeledSet, check_budget, labeled_set, read_list
from alseg.suggestions.options import config_record, suggest_overrides
from alseg.suggestions.outputs import MODEL_NAME, signal_keys, suggestions_frame, write_outputs
from alseg.suggestions.sheet import THRESHOLD, thumbnail
from alseg.train import fit

MODEL_FIX = ("pass the model.pt written by an earlier `alseg suggest --out DIR`, or leave out --model to train a new "
             "model")
PREVIOUS_FIX = "delete it to start the loop afresh, or choose another --out"


@dataclass(frozen=True)
class SuggestRequest:
    """One suggest call: the folder, the labeled list (a file or 'masked'), the output folder and the options.

    `options` are BenchConfig field names (image_size, epochs, encoder, precision, plugins, ...).
    """

    data_dir: Path
    labeled: str
    budget: int
    strategy: str
    out: Path
    preset: str | None = None
    model: Path | None = None
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SuggestResult:
    """What a suggest call produced: the picks (the suggestions.csv table), the files, the round and the names."""

    out: Path
    frame: pd.DataFrame
    files: tuple[Path, ...]
    round: int
    labeled: tuple[str, ...]
    suggested: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Start:
    """Where this round's model comes from: a --model to use as it is, the previous round's model.pt, or nothing."""

    checkpoint: Checkpoint | None
    given: bool  # the checkpoint came from --model: no training in this call

    @property
    def round(self) -> int:
        """This call's round: one after the checkpoint's, 0 without one."""
        return 0 if self.checkpoint is None else self.checkpoint.round + 1


class Observed:
    """The strategy, keeping the selection context select_next built for it (for the scores and signals shown)."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.ctx: SelectionContext | None = None

    def select(self, ctx: SelectionContext, budget: int) -> Any:
        """Keep the context, then let the strategy select."""
        self.ctx = ctx
        return self.strategy.select(ctx, budget)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.strategy, name)


def suggest_config(request: SuggestRequest) -> BenchConfig:
    """The resolved config of a suggest call (preset < options), checked as `alseg bench` checks its own."""
    if isinstance(request.seed, bool) or not isinstance(request.seed, int) or request.seed < 0:
        raise AlsegUsageError(f"--seed must be an integer 0 or more, got {request.seed!r}")
    overrides = suggest_overrides(request.data_dir, request.budget, request.strategy, request.out, request.preset,
                                  request.options)
    return resolve_config(overrides)


def one_strategy(cfg: BenchConfig) -> StrategySpec:
    """The one strategy --strategy names (a pattern or a list naming several is refused)."""
    specs = resolve_strategies(cfg)
    if len(specs) != 1:
        raise AlsegUsageError(f"--strategy '{cfg.strategies}' names {len(specs)} strategies "
                              f"({', '.join(s.run_name for s in specs[:10])}); suggest selects with one, e.g. "
                              f"--strategy {specs[0].run_name}")
    return specs[0]


def lock(out: Path) -> FileLock:
    """Hold <out>/.lock, so that two suggest calls never write one folder at once."""
    held = FileLock(str(out / ".lock"))
    try:
        held.acquire(timeout=0)
    except Timeout:
        raise AlsegUsageError(f"{out} is in use by another `alseg suggest`; wait for it to finish, or choose "
                              "another --out") from None
    return held


def check_out(out: Path) -> None:
    """--out must be a folder (created when missing)."""
    if out.exists() and not out.is_dir():
        raise AlsegUsageError(f"--out {out} is a file; give a folder (it is created if missing)")


def starting_point(request: SuggestRequest, cfg: BenchConfig, out: Path) -> Start:
    """The model this round starts from: --model, else the previous round's model.pt in --out, else none."""
    if request.model is not None:
        ckpt = read_checkpoint(Path(request.model).expanduser(), "--model", MODEL_FIX)
        check_fits(ckpt, cfg, "--model", "leave out --model to train a new model")
        return Start(ckpt, given=True)
    path = out / MODEL_NAME
    if not path.exists():
        return Start(None, given=False)
    ckpt = read_checkpoint(path, f"--out {out} (the previous round's model)", PREVIOUS_FIX)
    if cfg.train_mode == "finetune":
        check_fits(ckpt, cfg, f"--out {out} (the previous round's model)", "choose a new --out to start a new loop")
    return Start(ckpt, given=False)


def check_needs(needs: Needs, spec: StrategySpec, start: Start) -> None:
    """Refuse a strategy whose training term on unlabeled images a --model trained elsewhere never had."""
    ckpt = start.checkpoint
    if start.given and needs.unlabeled_loss and ckpt is not None and ckpt.strategy != spec.run_name:
        raise AlsegUsageError(
            f"strategy '{spec.run_name}' trains with a term on unlabeled images (need 'unlabeled_loss'), but --model "
            f"{ckpt.path} was trained with '{ckpt.strategy}' and suggest does not train a --model: leave out --model "
            "(suggest then trains with the term), or choose a strategy without it, e.g. "
            "\"proposed(discrepancy=false)\"")


def load_folder(cfg: BenchConfig, emit: Emit) -> PartialFolder:
    """Decode the folder (every image, the masks that exist), reporting progress as events."""
    root = Path(str(cfg.data_dir)).expanduser()
    emit(DataLoading(str(root)))
    return load_partial(root, cfg.image_size, Path(cfg.cache_dir),
                        progress=lambda done, total: emit(DataLoading(str(root), done, total)))


def check_labeled(folder: PartialFolder, chosen: LabeledSet, cfg: BenchConfig, needs: Needs, start: Start) -> list[str]:
    """Mask sanity on the labeled set (as bench checks its training masks), and enough images to train on."""
    view = folder.dataset(chosen.labeled)
    warnings = check_masks(view, allow_empty=cfg.allow_empty_masks,
                           allow_majority_foreground=cfg.allow_majority_foreground)
    trains = not start.given or needs.ensemble
    if trains and chosen.labeled.size < 2:
        names = ", ".join(folder.files[i] for i in chosen.labeled)
        raise AlsegUsageError(f"only 1 labeled image ({names}): training needs at least 2 (BatchNorm needs two images "
                              "per batch); annotate another image and save its mask in masks/")
    return warnings


def loop_notes(folder: PartialFolder, chosen: LabeledSet, start: Start, source: str) -> list[str]:
    """What the user should know about the labeled set: masked images left out, and what changed since last round."""
    notes = []
    if chosen.excluded.size:
        names = [folder.files[i] for i in chosen.excluded]
        notes.append(f"{len(names)} image(s) have a mask but are not in --labeled {source}: they are neither trained "
                     f"on nor suggested: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
    ckpt = start.checkpoint
    if ckpt is not None and not start.given:
        now = {folder.files[i] for i in chosen.labeled}
        added, dropped = sorted(now - set(ckpt.labeled)), sorted(set(ckpt.labeled) - now)
        notes.append(f"round {start.round} of the loop in this --out: " + (
            f"{len(added)} image(s) labeled since round {ckpt.round}" if added else
            f"no image labeled since round {ckpt.round}, training again on the same {len(now)}"))
        if dropped:
            notes.append(f"{len(dropped)} image(s) labeled in round {ckpt.round} are not labeled now (mask removed or "
                         f"not listed): {', '.join(dropped[:10])}{' ...' if len(dropped) > 10 else ''}")
    return notes


def summary_line(folder: PartialFolder, chosen: LabeledSet) -> str:
    """One line describing the folder as suggest sees it."""
    fg = float(np.mean(foreground_fractions(folder.masks, chosen.labeled)))
    left = f", {chosen.excluded.size} masked but not listed" if chosen.excluded.size else ""
    return (f"{folder.root}: {len(folder.ids)} images at {folder.images.shape[1]} px; {chosen.labeled.size} labeled, "
            f"{chosen.pool.size} unlabeled (the pool){left}; labeled foreground {fg:.1%}")


def train(plan: RunPlan, r: int, labeled: np.ndarray, model: SegModel | None) -> tuple[SegModel, int]:
    """Train on the labeled set: a fresh model (the seed's weights) for initial_epochs, or fine-tune for epochs."""
    cfg, data = plan.setup.cfg, plan.setup.data
    fresh = model is None
    model = plan.fresh_model() if model is None else model
    epochs = cfg.initial_epochs if fresh else cfg.epochs
    plan.emit(RoundStarted(plan.spec.run_name, plan.seed, r, len(labeled), epochs))
    term = plan.needs.unlabeled_loss
    torch.manual_seed(derive_seed(plan.seed, data.name, "torch", r))
    fit(model, data.images, data.masks, labeled, train_settings(cfg, epochs),
        torch_generator(plan.seed, data.name, "train", r), plan.setup.device,
        extra_loss=plan.strategy.extra_loss if term else None,
        unlabeled=np.setdiff1d(data.train, labeled) if term else None,
        on_epoch=lambda epoch, loss: plan.emit(EpochDone(epoch, loss)),
        where=f"suggest with {plan.spec.run_name}, round {r}", precision=plan.setup.precision)
    return model, epochs


def strategy_scores(strategy: Strategy, ctx: SelectionContext, needs: Needs, run_name: str) -> np.ndarray | None:
    """The strategy's own ranking score per pool image, when it has one that reads the pool signals only.

    Strategies that run the model or train an ensemble to score are not asked again (a second, costly and,
    for MC dropout, different pass): their `score` column stays empty.
    """
    if needs.model or needs.ensemble:
        return None
    scores = strategy.selection_scores(ctx)
    if scores is None:
        return None
    arr = np.asarray(scores, dtype=np.float64)
    if arr.shape != (len(ctx.pool),):
        raise StrategyContractError(f"strategy '{run_name}': selection_scores returned shape {arr.shape}, expected "
                                    f"one score per pool image ({len(ctx.pool)},)")
    return arr


def predicted_probs(model: SegModel, plan: RunPlan, ids: np.ndarray) -> np.ndarray:
    """The model's foreground probabilities (N, S, S) of the picks, for the outline and the predicted area."""
    setup = plan.setup
    predictor = Predictor(model, setup.data.images, setup.cfg.batch_size, setup.device, setup.precision)
    return predictor.predict(ids).probs.reshape(len(ids), *setup.data.images.shape[1:3])


def model_source(start: Start, request: SuggestRequest, out: Path, cfg: BenchConfig) -> str:
    """In words: where this round's model came from."""
    ckpt = start.checkpoint
    if start.given and ckpt is not None:
        return f"--model {ckpt.path} as it is (round {ckpt.round}, no training in this call)"
    if ckpt is not None and cfg.train_mode == "finetune":
        return f"fine-tuned from {out / MODEL_NAME} (round {ckpt.round})"
    return "trained from the seed's initial weights"


def page_text(request: SuggestRequest, spec: StrategySpec, folder: PartialFolder, chosen: LabeledSet, r: int,
              how: str) -> tuple[str, list[str]]:
    """Title and paragraphs of suggestions.html."""
    add = "" if request.labeled == MASKED else f" and add their names to {request.labeled}"
    return (f"alseg suggest: {request.budget} images to annotate next", [
        f"Chosen by {spec.label} ({spec.run_name}) from the {chosen.pool.size} unlabeled images of {folder.root}; "
        f"the model was {how}, on {chosen.labeled.size} labeled images (round {r}, seed {request.seed}).",
        f"Green: the outline of the current model's predicted mask (probability > {THRESHOLD}), a starting point "
        "for the annotator, not ground truth.",
        f"Next: save a mask for each of these images in masks/ under the image's file name{add}, then run the same "
        "command again: the model is fine-tuned on the larger labeled set and suggests the next batch.",
    ])


def run_suggest(request: SuggestRequest, emit: Emit = ignore) -> SuggestResult:
    """Run one suggest call and write its outputs into request.out; returns the picks and what was written."""
    t_start = time.perf_counter()
    cfg = suggest_config(request)
    spec = one_strategy(cfg)
    out = Path(request.out).expanduser()
    check_out(out)
    if request.labeled != MASKED:
        read_list(Path(request.labeled))  # a missing list fails before anything is decoded
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    configure_torch(device, cfg.threads, cfg.deterministic)
    for note in cfg.notes:
        emit(Note(note))
    if cfg.precision == "auto":
        emit(Note(f"--precision auto: {precision.name} on this {device.type}"))
    out.mkdir(parents=True, exist_ok=True)
    held = lock(out)
    try:
        return _run_locked(request, cfg, spec, out, device, precision, emit, t_start)
    finally:
        held.release()


def _run_locked(request: SuggestRequest, cfg: BenchConfig, spec: StrategySpec, out: Path, device: torch.device,
                precision: Precision, emit: Emit, t_start: float) -> SuggestResult:
    """The part of a suggest call that runs while holding --out's lock."""
    start = starting_point(request, cfg, out)
    check_needs(needs_of(spec.build()), spec, start)
    if not start.given:
        build_model(cfg.encoder, cfg.encoder_weights, 0)  # a bad encoder or weights file fails before decoding
    t0 = time.perf_counter()
    folder = load_folder(cfg, emit)
    chosen = labeled_set(request.labeled, folder)
    check_budget(cfg.budget, folder, chosen.pool)
    counter = PoolCounter(emit)
    data = folder.dataset(np.union1d(chosen.labeled, chosen.pool))
    plan = RunPlan(RunSetup(cfg, data, device, ExperimentStore(out), precision), spec, request.seed, counter)
    strategy = plan.strategy
    warnings = [*folder.warnings, *check_labeled(folder, chosen, cfg, plan.needs, start)]
    t_load = time.perf_counter() - t0
    emit(DataLoaded(summary_line(folder, chosen)))
    warnings += loop_notes(folder, chosen, start, request.labeled)
    for text in warnings:
        emit(Note(text))

    r, ckpt = start.round, start.checkpoint
    t0 = time.perf_counter()
    if start.given and ckpt is not None:
        model, epochs = model_from(ckpt, cfg, device, "--model", MODEL_FIX), 0
    else:
        previous = None
        if ckpt is not None and cfg.train_mode == "finetune":
            previous = model_from(ckpt, cfg, device, f"--out {out} (the previous round's model)", PREVIOUS_FIX)
        model, epochs = train(plan, r, chosen.labeled, previous)
    t_train = time.perf_counter() - t0

    observed = Observed(strategy)
    plan.strategy = observed  # type: ignore[assignment]  # select_next calls select() only
    counter.watch(model, pool_pass_images(plan.needs, chosen.pool.size, chosen.labeled.size))
    try:
        sel: Selection = select_next(plan, r, model, chosen.labeled)
    finally:
        counter.close()
    emit(Phase("writing the suggestions"))
    t0 = time.perf_counter()
    assert observed.ctx is not None  # select_next always builds a context before select()
    ctx = observed.ctx
    arrays = getattr(ctx.signals, "arrays", ctx.signals)
    probs = predicted_probs(model, plan, sel.chosen)
    frame = suggestions_frame(folder.files, sel.chosen, ctx.pool, strategy_scores(strategy, ctx, plan.needs,
                                                                                  spec.run_name),
                              arrays, signal_keys(plan.needs, arrays), (probs > THRESHOLD).mean(axis=(1, 2)))
    tiles = [thumbnail(decode_image(folder.image_dir / folder.files[i]), probs[k]) for k, i in enumerate(sel.chosen)]
    labeled_names = [folder.files[i] for i in chosen.labeled]
    how = model_source(start, request, out, cfg)
    title, paragraphs = page_text(request, spec, folder, chosen, r, how)
    suggested = [str(f) for f in frame["file"]]
    summary = {
        "alseg_version": __version__, "round": r, "seed": request.seed, "strategy": spec.run_name,
        "strategy_label": spec.label, "provider": spec.provider, "data_dir": str(folder.root.resolve()),
        "labeled_source": request.labeled, "config": config_record(cfg), "precision": precision.name,
        "device": environment_record(device, precision)["device"], "versions": package_versions(),
        "model": {"source": how, "epochs": epochs, "file": MODEL_NAME},
        "n_images": len(folder.ids), "n_labeled": int(chosen.labeled.size), "n_pool": int(chosen.pool.size),
        "labeled": labeled_names, "suggested": suggested, "excluded": [folder.files[i] for i in chosen.excluded],
        "picked_entropy": float(sel.picked_entropy), "pool_entropy": float(sel.pool_entropy), "warnings": warnings,
        "seconds": {"load": round(t_load, 3), "train": round(t_train, 3), "pool_pass": round(sel.t_pool, 3),
                    "select": round(sel.t_select, 3)},
    }
    summary["seconds"]["outputs"] = round(time.perf_counter() - t0, 3)
    summary["seconds"]["total"] = round(time.perf_counter() - t_start, 3)
    files = write_outputs(out, frame, tiles, title, paragraphs, summary)
    # model.pt last: a call stopped before it leaves the previous round's model, so a rerun redoes this round.
    if start.given and ckpt is not None:
        save_checkpoint(out / MODEL_NAME, model, ckpt.config, ckpt.labeled, r, ckpt.strategy, ckpt.seed)
    else:
        save_checkpoint(out / MODEL_NAME, model, config_record(cfg), labeled_names, r, spec.run_name, request.seed)
    files.append(out / MODEL_NAME)
    return SuggestResult(out=out, frame=frame, files=tuple(files), round=r, labeled=tuple(labeled_names),
                         suggested=tuple(suggested), warnings=tuple(warnings))
