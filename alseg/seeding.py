"""Seeds are handed out, never invented: every random stream is a hash of the run's identity."""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def derive_seed(*parts: object) -> int:
    """Return a 32-bit seed from a sha256 of the parts (e.g. base seed, dataset, stream name).

    Runs that share the parts share the stream: all strategies of one seed get the same initial set
    and initial weights because those streams leave the strategy out.
    """
    text = "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % (2**32)


def numpy_rng(*parts: object) -> np.random.Generator:
    """A numpy Generator for one named stream."""
    return np.random.default_rng(derive_seed(*parts))


def torch_generator(*parts: object) -> torch.Generator:
    """A CPU torch Generator for one named stream (data order, augmentation, unlabeled batches)."""
    gen = torch.Generator()
    gen.manual_seed(derive_seed(*parts))
    return gen
