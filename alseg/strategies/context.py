"""What a strategy receives when it selects: the SelectionContext, its signal views, and ctx.predict.

The harness builds one context per selection from the strategy's `Needs`: only the declared signals
are visible (an undeclared key is an error naming the need to declare), and `ctx.predict` /
`ctx.train_member` work only for a strategy that declared 'model' / 'ensemble'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from alseg.precision import FP32, Precision
from alseg.strategies.base import StrategyContractError
from alseg.strategies.needs import LABELED_PREFIX, Needs
from alseg.strategies.scores import embedding
from alseg.strategies.signals import POOL_KEYS
from alseg.train import to_tensor

if TYPE_CHECKING:
    from alseg.models import SegModel

__all__ = ["DeclaredSignals", "Prediction", "Predictor", "ScoreFn", "SelectionContext", "UndeclaredSignalError"]

#: A per-batch score for ctx.predict_scores: probabilities (torch, on the device) -> one value (or row) per image.
#: With predict_scores(..., head_input=True) it is called as score(probs, head_input) instead.
ScoreFn = Callable[..., "Tensor | np.ndarray"]


@dataclass(frozen=True)
class Prediction:
    """ctx.predict's result, numpy float32: foreground probabilities and, when asked, pooled embeddings.

    V = len(models) × passes views; `probs` is (N,H,W) for one view, else (V,N,H,W), views ordered
    model by model, pass by pass. `embeddings` is F(x) (N,C) of the first view (dropout does not touch
    the encoder), or None unless embeddings=True.
    """

    ids: np.ndarray
    probs: np.ndarray
    embeddings: np.ndarray | None = None


class Predictor:
    """Runs a model over dataset indices in batches, in eval mode, without grad; results in float32.

    The forward runs under the experiment's precision (autocast in bf16/fp16 runs); probabilities and
    embeddings are returned as float32.

    Memory: `predict` holds V·N·H·W float32 probabilities (550 images at 352 px: 270 MB a view);
    `predict_scores` holds one batch of them and N per-image scores.
    """

    def __init__(self, model: SegModel, images: np.ndarray, batch_size: int, device: torch.device,
                 precision: Precision = FP32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model, self.images, self.batch_size, self.device = model, images, int(batch_size), device
        self.precision = precision

    @torch.no_grad()
    def _forward(self, rows: np.ndarray, models: Sequence[SegModel], mc_dropout: bool, passes: int,
                 embeddings: bool, head_input: bool = False) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """One batch: probabilities (B,H,W) or (V,B,H,W) on the device, F(x) and the head's input of the first view."""
        x = to_tensor(self.images, rows, self.device)
        views, emb, dec = [], None, None
        for m in models:
            with self.precision.autocast(self.device):  # encoder and decoder once: passes differ only at the head
                features, decoded = m.decode(x)
            if embeddings and emb is None:
                emb = embedding(features.float())
            for _ in range(passes):
                with self.precision.autocast(self.device):
                    logits, used = m.head(decoded, mc_dropout)
                if head_input and not views:
                    dec = used.float()
                views.append(torch.sigmoid(logits.float())[:, 0])
        return (views[0] if len(views) == 1 else torch.stack(views)), emb, dec

    def batches(self, ids: Sequence[int] | np.ndarray, *, mc_dropout: bool = False, passes: int = 1,
                embeddings: bool = False, models: Sequence[SegModel] | None = None,
                ) -> Iterator[tuple[np.ndarray, Tensor, Tensor | None]]:
        """Yield (rows, probs, embeddings) per batch, tensors on the device (probs shaped as in Prediction)."""
        for rows, probs, emb, _ in self._batches(ids, mc_dropout, passes, embeddings, models):
            yield rows, probs, emb

    def _batches(self, ids: Sequence[int] | np.ndarray, mc_dropout: bool, passes: int, embeddings: bool,
                 models: Sequence[SegModel] | None, head_input: bool = False,
                 ) -> Iterator[tuple[np.ndarray, Tensor, Tensor | None, Tensor | None]]:
        """batches() plus the head's input of the first view (None unless head_input)."""
        idx = np.asarray(ids, dtype=np.int64).reshape(-1)
        models = self._models(models, passes)
        for m in models:
            m.eval()
        for start in range(0, len(idx), self.batch_size):
            rows = idx[start : start + self.batch_size]
            yield rows, *self._forward(rows, models, mc_dropout, int(passes), embeddings, head_input)

    def _models(self, models: Sequence[SegModel] | None, passes: int) -> list[SegModel]:
        """The models to run (the current one by default), after checking `models` and `passes`."""
        if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 1:
            raise ValueError(f"passes must be an integer >= 1, got {passes!r}")
        chosen = [self.model] if models is None else list(models)
        if not chosen:
            raise ValueError("models must hold at least one model (or be None for the current one)")
        return chosen

    def predict(self, ids: Sequence[int] | np.ndarray, *, mc_dropout: bool = False, passes: int = 1,
                embeddings: bool = False, models: Sequence[SegModel] | None = None) -> Prediction:
        """Probabilities (and embeddings) for every id, as numpy float32 (see Prediction for shapes)."""
        idx = np.asarray(ids, dtype=np.int64).reshape(-1)
        n_views = len(self._models(models, passes)) * int(passes)
        probs: np.ndarray | None = None
        emb: np.ndarray | None = None
        done = 0
        for rows, p, e in self.batches(idx, mc_dropout=mc_dropout, passes=passes, embeddings=embeddings,
                                       models=models):
            p_np = p.cpu().numpy()
            if probs is None:  # the output size is known after the first batch
                shape = (len(idx), *p_np.shape[-2:]) if n_views == 1 else (n_views, len(idx), *p_np.shape[-2:])
                probs = np.empty(shape, dtype=np.float32)
            probs[..., done : done + len(rows), :, :] = p_np
            if e is not None:
                if emb is None:
                    emb = np.empty((len(idx), e.shape[1]), dtype=np.float32)
                emb[done : done + len(rows)] = e.cpu().numpy()
            done += len(rows)
        if probs is None:  # no ids
            size = self.images.shape[1:3]
            probs = np.zeros((0, *size) if n_views == 1 else (n_views, 0, *size), dtype=np.float32)
            emb = np.zeros((0, 0), dtype=np.float32) if embeddings else None
        return Prediction(ids=idx, probs=probs, embeddings=emb)

    def predict_scores(self, ids: Sequence[int] | np.ndarray, score: ScoreFn, *, mc_dropout: bool = False,
                       passes: int = 1, models: Sequence[SegModel] | None = None,
                       head_input: bool = False) -> np.ndarray:
        """score(probs) batch by batch on the device, concatenated: per-image results without holding N·H·W.

        With head_input, score(probs, head_input) also receives the segmentation head's input of the first
        view (the decoder output, float32 (B,C_d,H,W)), e.g. for closed-form gradients of the head.
        """
        parts = []
        for rows, probs, _, dec in self._batches(ids, mc_dropout, passes, False, models, head_input):
            with torch.no_grad():
                value = score(probs, dec) if head_input else score(probs)
            arr = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
            if arr.ndim == 0 or arr.shape[0] != len(rows):
                raise StrategyContractError(
                    f"the score passed to ctx.predict_scores must return one value (or row) per image: got shape "
                    f"{arr.shape} for a batch of {len(rows)} images")
            parts.append(arr)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class UndeclaredSignalError(StrategyContractError, KeyError):
    """A strategy read a signal it did not declare (a KeyError too, so `in` and `.get` behave)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DeclaredSignals(Mapping[str, np.ndarray]):
    """A read-only view of the signal arrays that shows only the declared keys and records which are read."""

    def __init__(self, arrays: Mapping[str, np.ndarray], declared: frozenset[str], owner: str,
                 prefix: str = "") -> None:
        self.arrays, self.declared, self.owner, self.prefix = arrays, frozenset(declared), owner, prefix
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.declared:
            what = "labeled-set signal" if self.prefix else "pool signal"
            if key in POOL_KEYS:
                fix = f"add '{self.prefix}{key}' to needs (or to what declared_needs() returns)"
            else:
                fix = f"'{key}' is no signal at all; known keys: {', '.join(sorted(POOL_KEYS))}"
            declared = ", ".join(f"'{self.prefix}{k}'" for k in sorted(self.declared)) or "none"
            raise UndeclaredSignalError(f"{self.owner} reads the {what} '{key}' but does not declare it: {fix} "
                                        f"(declared: {declared})")
        self.read.add(key)
        return self.arrays[key]

    def __contains__(self, key: object) -> bool:
        return key in self.declared

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.declared))

    def __len__(self) -> int:
        return len(self.declared)

    def __repr__(self) -> str:
        return f"DeclaredSignals({sorted(self.declared)})"


@dataclass
class SelectionContext:
    """Everything a strategy may look at when it selects; signals are aligned with the id arrays.

    The harness passes `needs=needs_of(strategy)` (and the run name as `strategy`): then only declared
    signals are visible and predict/train_member check the declaration. A context built by hand
    (tests) without `needs` exposes whatever it was given.
    """

    pool: np.ndarray  # dataset indices of the unlabeled pool, ascending
    labeled: np.ndarray  # dataset indices of the labeled set, ascending
    signals: Mapping[str, np.ndarray]  # pool signal key -> array with len(pool) rows
    labeled_signals: Mapping[str, np.ndarray]  # signal key -> array with len(labeled) rows
    rng: np.random.Generator  # seeded from (seed, dataset, strategy run name, round)
    round: int
    predictor: Predictor | None = None  # the current model over the dataset's images (need 'model')
    train_member: Callable[[int], SegModel] | None = None  # trains a fresh model on L (need 'ensemble')
    strategy: str = ""  # the run name, e.g. "proposed(discrepancy=false)", for messages
    needs: Needs | None = None  # what the strategy declared; None: nothing is checked

    @property
    def owner(self) -> str:
        """Who the messages name: the run name when given, else the strategy the needs belong to."""
        if self.strategy:
            return f"strategy '{self.strategy}'"
        return self.needs.owner if self.needs is not None else "the strategy"

    def __post_init__(self) -> None:
        if self.needs is None:
            return
        owner = self.owner
        for given, keys, prefix, ids in ((self.signals, self.needs.pool_keys, "", self.pool),
                                         (self.labeled_signals, self.needs.labeled_keys, LABELED_PREFIX,
                                          self.labeled)):
            missing = sorted(keys - set(given))
            if missing:
                raise ValueError(f"SelectionContext for {owner}: the declared signals "
                                 f"{', '.join(prefix + k for k in missing)} are missing (given: {sorted(given)})")
            wrong = sorted(k for k in keys if len(given[k]) != len(ids))
            if wrong:
                raise ValueError(f"SelectionContext for {owner}: signals {', '.join(prefix + k for k in wrong)} "
                                 f"do not have one row per id ({len(ids)})")
        self.signals = DeclaredSignals(self.signals, self.needs.pool_keys, owner)
        self.labeled_signals = DeclaredSignals(self.labeled_signals, self.needs.labeled_keys, owner, LABELED_PREFIX)
        if not self.needs.ensemble or self.train_member is None:
            self.train_member = self._raiser("ctx.train_member", "ensemble")

    def _error(self, what: str, need: str) -> StrategyContractError:
        """Why `what` is unavailable: the strategy did not declare `need`, or the context was built without it."""
        if self.needs is not None and need not in self.needs.names and not (need == "model" and self.needs.model):
            return StrategyContractError(f"{self.owner} calls {what} but does not declare the need "
                                         f"'{need}'; add '{need}' to needs")
        return StrategyContractError(f"{what}: this context was built without it (the harness provides it to "
                                     f"strategies that declare '{need}')")

    def _raiser(self, what: str, need: str) -> Callable[..., Any]:
        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise self._error(what, need)

        return unavailable

    def _predictor(self, what: str) -> Predictor:
        if self.predictor is None or (self.needs is not None and not self.needs.model):
            raise self._error(what, "model")
        return self.predictor

    def predict(self, ids: Sequence[int] | np.ndarray, *, mc_dropout: bool = False, passes: int = 1,
                embeddings: bool = False, models: Sequence[SegModel] | None = None) -> Prediction:
        """Run the current model (or `models`) over dataset ids; O(V·N·H·W) memory, see Prediction."""
        return self._predictor("ctx.predict").predict(ids, mc_dropout=mc_dropout, passes=passes,
                                                      embeddings=embeddings, models=models)

    def predict_scores(self, ids: Sequence[int] | np.ndarray, score: ScoreFn, *, mc_dropout: bool = False,
                       passes: int = 1, models: Sequence[SegModel] | None = None,
                       head_input: bool = False) -> np.ndarray:
        """Per-image score(probs) (or score(probs, head_input)) batch by batch on the device: O(N) memory."""
        return self._predictor("ctx.predict_scores").predict_scores(ids, score, mc_dropout=mc_dropout,
                                                                    passes=passes, models=models,
                                                                    head_input=head_input)
