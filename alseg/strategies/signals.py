"""The pool signals, as data: name, meaning, shape, how the pool pass computes them, and their variants.

This table is the one place a signal is described. `alseg/pool.py` computes exactly these keys, the
needs vocabulary (`alseg/strategies/needs.py`) is built from them, and the table in docs/strategies.md
is `markdown_table()` (tests/test_needs.py checks that the two are equal). No torch here: listing
strategies and parsing needs stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["POOL_KEYS", "POOL_SIGNALS", "SIGNALS", "VARIANT_SEPARATOR", "Signal", "base_of", "markdown_table"]

#: A variant key is `<signal>:<variant>`, e.g. `entropy:max`.
VARIANT_SEPARATOR = ":"


@dataclass(frozen=True)
class Signal:
    """One per-image signal of the pool pass; `variants` are other reductions computed in the same pass."""

    name: str
    meaning: str  # per image, in words and symbols
    shape: str  # of the array the strategy receives, N = images in the pool (or the labeled set)
    computed: str  # what the pool pass runs to get it (functions of alseg.api)
    used_by: str
    variants: tuple[tuple[str, str], ...] = ()  # (variant, meaning): key f"{name}:{variant}"

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys this signal puts into ctx.signals: its name, then one per variant."""
        return (self.name, *(f"{self.name}{VARIANT_SEPARATOR}{v}" for v, _ in self.variants))


SIGNALS: tuple[Signal, ...] = (
    Signal(
        name="entropy",
        meaning="mean over pixels of h(p) = −p ln p − (1−p) ln(1−p), p the foreground probability clipped to "
                "[1e-6, 1−1e-6]",
        shape="(N,) float32",
        computed="one forward (bf16 autocast on CUDA), sigmoid, `binary_entropy`, `reduce_pixels(…, 'mean')`",
        used_by="entropy; every run records the mean entropy of its picks as a diagnostic",
        variants=(("sum", "sum over pixels of h(p)"), ("max", "max over pixels of h(p)")),
    ),
    Signal(
        name="embedding",
        meaning="F(x) = global average of the deepest encoder map f_E(x) (paper Eq. 3)",
        shape="(N, C) float32",
        computed="`embedding` of the same forward's features",
        used_by="coreset, asa, proposed",
    ),
    Signal(
        name="fg_bg_similarity",
        meaning="I(x) = cos(F₁, F₀), F_c = Avg(ŷ_c ⊗ f_E(x)), ŷ resized to the feature map (Eq. 1–2)",
        shape="(N,) float32",
        computed="`fg_bg_similarity` of the same forward's probabilities and features",
        used_by="proposed",
    ),
    Signal(
        name="tta_variance",
        meaning="per-pixel variance of the foreground probability over the 8 flips/rotations (each mapped "
                "back), mean over pixels",
        shape="(N,) float32",
        computed="7 more forwards (`dihedral_apply`, `dihedral_invert`), `tta_variance` over the 8 views",
        used_by="asa",
    ),
)

#: Base signal names the pool pass knows how to compute.
POOL_SIGNALS: frozenset[str] = frozenset(s.name for s in SIGNALS)
#: Every key the pool pass can put into ctx.signals (variants included).
POOL_KEYS: frozenset[str] = frozenset(k for s in SIGNALS for k in s.keys)


def base_of(key: str) -> str:
    """The signal a key belongs to: 'entropy:max' -> 'entropy'; raises KeyError for an unknown key."""
    base = key.split(VARIANT_SEPARATOR, 1)[0]
    if key not in POOL_KEYS:
        raise KeyError(f"unknown pool signal {key!r}; known: {', '.join(sorted(POOL_KEYS))}")
    return base


def markdown_table() -> str:
    """The signal table of docs/strategies.md, one row per key (variants on their own rows)."""
    rows = ["| key | per image | shape | computed by | used by |", "| --- | --- | --- | --- | --- |"]
    for s in SIGNALS:
        rows.append(f"| `{s.name}` | {s.meaning} | {s.shape} | {s.computed} | {s.used_by} |")
        for (_, meaning), key in zip(s.variants, s.keys[1:], strict=True):
            rows.append(f"| `{key}` | {meaning} | {s.shape} | same pass as `{s.name}` | `{s.name}` variant |")
    return "\n".join(rows)
