"""Write a validation split of CVC-ClinicDB's training frames, for choosing a recipe without the test split.

Usage: python results/make_validation_split.py OUT.json [--seed 0] [--size 62]

`--split-file OUT.json` then trains on the remaining standard training frames and evaluates on the held-out
ones, which are training frames too: the 62 standard test frames (PraNet's) are in neither part, so nothing run
on this split sees them (docs/protocol.md, "No tuning on the test split"). Frames of one video sequence are near
duplicates, so whole sequences are held out (the release's frame-to-sequence table, `../shared/data/cvc-clinicdb/
SOURCE.md`), drawn in a seeded order until at least `--size` training frames are held out; the validation
frames then have no neighbour from their own sequence in the training part.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from alseg.datasets.cvc import N_FRAMES, TEST_FRAMES

#: First frame of each of the 29 video sequences (frames 1-612 in order), from the release's README.
SEQUENCE_STARTS = (1, 26, 51, 68, 79, 104, 127, 152, 178, 200, 206, 228, 253, 278, 298, 318, 343, 364, 384, 409,
                   429, 448, 467, 479, 504, 529, 547, 572, 592)


def sequence_of(frame: int) -> int:
    """The video sequence (1-29) a frame number (1-612) belongs to."""
    return sum(1 for start in SEQUENCE_STARTS if start <= frame)


def validation_split(seed: int = 0, size: int = 62) -> dict[str, list[str]]:
    """{'train': ..., 'test': ...} frame names (stems) of the standard training frames, split by whole sequences."""
    train = [n for n in range(1, N_FRAMES + 1) if n not in TEST_FRAMES]
    if not 0 < size < len(train):
        raise SystemExit(f"--size must be between 1 and {len(train) - 1}, got {size}")
    held: set[int] = set()
    for seq in np.random.default_rng(seed).permutation(len(SEQUENCE_STARTS)) + 1:
        if len(held) >= size:
            break
        held |= {n for n in train if sequence_of(n) == seq}
    if len(held) >= len(train):
        raise SystemExit(f"--size {size} would hold out every training sequence")
    return {"train": [str(n) for n in train if n not in held], "test": [str(n) for n in sorted(held)]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=62)
    args = parser.parse_args(argv)
    split = validation_split(args.seed, args.size)
    args.out.write_text(json.dumps(split, indent=1) + "\n")
    sequences = sorted({sequence_of(int(n)) for n in split["test"]})
    print(f"{args.out}: {len(split['train'])} train / {len(split['test'])} validation frames (sequences "
          f"{', '.join(map(str, sequences))}; seed {args.seed}); the {len(TEST_FRAMES)} standard test frames are "
          "in neither")


if __name__ == "__main__":
    main()
