"""Supervised training (BCE + Dice) with an optional unlabeled term a strategy asks for, and evaluation.

Images arrive as uint8 arrays (N,H,W,3) and boolean masks (N,H,W), indexed by the labeled ids; every
random choice (batch order, flips, unlabeled batches) comes from the torch Generator handed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from alseg.errors import AlsegError
from alseg.faults import fault_point
from alseg.metrics import per_image_metrics
from alseg.models import ForwardOutput, SegModel
from alseg.precision import FP32, Precision

ExtraLoss = Callable[[ForwardOutput, bool], "Tensor | None"]


class NonFiniteLossError(AlsegError):
    """Training produced a NaN or infinite loss; the message names the round, epoch and step."""


@dataclass(frozen=True)
class TrainSettings:
    """How one round trains: epochs over the labeled set, batch size, Adam learning rate, flips."""

    epochs: int
    batch_size: int
    lr: float
    augment: bool = True
    schedule: str = "constant"  # "constant" or "cosine" (decay to 0 over the round's steps)


def learning_rate(settings: TrainSettings, step: int, total: int) -> float:
    """The learning rate at optimiser step `step` of `total` in this round."""
    if settings.schedule == "cosine" and total > 0:
        return settings.lr * 0.5 * (1 + math.cos(math.pi * step / total))
    return settings.lr


def _rows(array: np.ndarray | Tensor, idx: np.ndarray, device: torch.device) -> Tensor:
    """Rows `idx` of an array or of a tensor already on the device (then indexed there: no image crosses the bus)."""
    if isinstance(array, Tensor):
        return array[torch.as_tensor(idx, device=array.device)]
    return torch.from_numpy(np.ascontiguousarray(array[idx])).to(device)


def to_tensor(images: np.ndarray | Tensor, idx: np.ndarray, device: torch.device) -> Tensor:
    """uint8 (N,H,W,3) rows `idx` → float (B,3,H,W) in [0, 1] on device (channels-last strides)."""
    return _rows(images, idx, device).permute(0, 3, 1, 2).float().div_(255.0)


def mask_tensor(masks: np.ndarray | Tensor, idx: np.ndarray, device: torch.device) -> Tensor:
    """bool (N,H,W) rows `idx` → float (B,1,H,W) on device."""
    return _rows(masks, idx, device).unsqueeze(1).float()


def random_flips(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Flip each sample horizontally and vertically with probability 1/2 (same flip for image and mask)."""
    flips = (torch.rand(x.shape[0], 2, generator=gen) < 0.5).to(x.device)
    horizontal = flips[:, 0].view(-1, 1, 1, 1)
    vertical = flips[:, 1].view(-1, 1, 1, 1)
    x = torch.where(horizontal, x.flip(3), x)
    y = torch.where(horizontal, y.flip(3), y)
    return torch.where(vertical, x.flip(2), x), torch.where(vertical, y.flip(2), y)


def bce_dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """Binary cross-entropy plus soft Dice loss (paper Eq. 6), averaged over the batch."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits).flatten(1)
    tgt = target.flatten(1)
    dice = (2 * (prob * tgt).sum(1) + eps) / (prob.sum(1) + tgt.sum(1) + eps)
    return bce + (1 - dice).mean()


def batch_starts(n: int, batch_size: int) -> list[int]:
    """Start positions of the batches of an epoch; a last batch of one is merged (BatchNorm needs two)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < 2:
        starts.pop()
    return starts


def batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[np.ndarray]:
    """Shuffled positions 0..n-1 in batches of `batch_size`."""
    order = torch.randperm(n, generator=gen).numpy()
    starts = batch_starts(n, batch_size)
    for k, s in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        yield order[s:end]


def fit(
    model: SegModel,
    images: np.ndarray,
    masks: np.ndarray,
    labeled: np.ndarray,
    settings: TrainSettings,
    gen: torch.Generator,
    device: torch.device,
    *,
    extra_loss: ExtraLoss | None = None,
    unlabeled: np.ndarray | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    where: str = "",
    precision: Precision = FP32,
    sync_each_step: bool | None = None,
) -> list[float]:
    """Train `model` in place on the labeled rows; returns the mean loss of each epoch.

    With `extra_loss` and `unlabeled`, every step also forwards a batch drawn from the unlabeled rows and
    adds `extra_loss(out, labeled=False)` (gradients reach encoder and prediction map); the labeled
    forward is offered as `extra_loss(out, labeled=True)` too. The forward runs under `precision`'s autocast
    (losses in float32; fp16 with a loss scaler). On a CPU the loss is read once per step (the step has finished
    anyway); on a GPU (`sync_each_step` False) the step losses stay on the device and are read once per epoch, for
    the epoch's mean and the non-finite check, so the host never waits for the card inside the step loop.
    """
    if sync_each_step is None:
        sync_each_step = device.type == "cpu"
    if len(labeled) < 2:
        raise AlsegError(f"{where}: training needs at least 2 labeled images, got {len(labeled)}")
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scaler = precision.grad_scaler(device)
    history: list[float] = []
    total_steps = settings.epochs * len(batch_starts(len(labeled), settings.batch_size))
    done = 0
    pending: list[tuple[int, dict[str, Tensor], Tensor]] = []  # (step, loss terms, loss) read once per epoch
    for epoch in range(settings.epochs):
        total, steps = 0.0, 0
        for step, pos in enumerate(batches(len(labeled), settings.batch_size, gen)):
            for group in opt.param_groups:
                group["lr"] = learning_rate(settings, done, total_steps)
            done += 1
            idx = np.sort(labeled[pos])
            x, y = to_tensor(images, idx, device), mask_tensor(masks, idx, device)
            if settings.augment:
                x, y = random_flips(x, y, gen)
            terms: dict[str, Tensor] = {}
            with precision.autocast(device):
                out = model(x)
                terms["supervised"] = bce_dice_loss(out.logits.float(), y)
                if extra_loss is not None:
                    labeled_term = extra_loss(out, True)
                    if labeled_term is not None:
                        terms["extra_loss on a labeled batch"] = labeled_term
                    if unlabeled is not None and len(unlabeled) >= 2:
                        upos = torch.randint(len(unlabeled), (len(idx),), generator=gen).numpy()
                        ux = to_tensor(images, np.sort(unlabeled[upos]), device)
                        unlabeled_term = extra_loss(model(ux), False)
                        if unlabeled_term is not None:
                            terms["extra_loss on an unlabeled batch"] = unlabeled_term
            parts = list(terms.values())
            loss = parts[0]
            for part in parts[1:]:
                loss = loss + part
            if sync_each_step:
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise NonFiniteLossError(non_finite_message(terms, where, epoch, step))
                total += value
            else:
                pending.append((step, {name: t.detach() for name, t in terms.items()}, loss.detach()))
            opt.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                opt.step()
            else:  # fp16: scale the loss so small gradients survive; steps with inf/NaN gradients are skipped
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            fault_point("train-step")
            steps += 1
        if pending:
            total = epoch_total(pending, where, epoch)
            pending.clear()
        history.append(total / max(steps, 1))
        if on_epoch is not None:
            on_epoch(epoch + 1, history[-1])
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise NonFiniteLossError(
            f"{where}: the weights became non-finite in the last optimiser step ({done} of {total_steps}, epoch "
            f"{settings.epochs}) of training. Lower the learning rate (--lr); finished rounds are kept (a new "
            "--lr needs a new --name)."
        )
    return history


def epoch_total(pending: list[tuple[int, dict[str, Tensor], Tensor]], where: str, epoch: int) -> float:
    """The summed step losses of an epoch read in one transfer; the first non-finite step raises, named."""
    values = torch.stack([loss for _, _, loss in pending]).float().cpu()
    for (step, terms, _), value in zip(pending, values.tolist(), strict=True):
        if not math.isfinite(value):
            raise NonFiniteLossError(non_finite_message(terms, where, epoch, step))
    return float(sum(values.tolist()))


def non_finite_message(terms: dict[str, Tensor], where: str, epoch: int, step: int) -> str:
    """Which loss term went NaN or infinite, where, and the likely fix."""
    values = {name: float(t.detach().float()) for name, t in terms.items()}
    bad = [name for name, v in values.items() if not math.isfinite(v)]
    shown = ", ".join(f"{name} = {values[name]}" for name in bad)
    head = f"{where}: the training loss became non-finite at epoch {epoch + 1}, step {step + 1} ({shown})"
    if bad and all(name.startswith("extra_loss") for name in bad):
        return (f"{head}. The strategy's extra_loss returned a non-finite value while the supervised loss is "
                f"{values['supervised']:.4g}: fix the strategy's extra_loss (or run it without its training "
                "term). Finished rounds are kept.")
    return (f"{head}. Lower the learning rate (--lr), or on a GPU try without mixed precision; "
            "finished rounds are kept (a new --lr needs a new --name).")


@torch.no_grad()
def evaluate(
    model: SegModel,
    images: np.ndarray,
    masks: np.ndarray,
    idx: np.ndarray,
    batch_size: int,
    device: torch.device,
    precision: Precision = FP32,
) -> dict[str, float]:
    """Mean over images of per-image Dice, IoU and mIoU (design §5) on the rows `idx` (metrics in float32)."""
    model.eval()
    sums = {"dice": 0.0, "iou": 0.0, "miou": 0.0}
    for start in range(0, len(idx), batch_size):
        rows = idx[start : start + batch_size]
        with precision.autocast(device):
            logits = model(to_tensor(images, rows, device)).logits.float()
        for name, values in per_image_metrics(logits, mask_tensor(masks, rows, device)).items():
            sums[name] += float(values.sum())
    return {name: total / len(idx) for name, total in sums.items()}
