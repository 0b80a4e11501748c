"""The report's selection gallery: which images each strategy picked, as thumbnails with the mask outlined.

Three parts, each on its own: pure numpy image functions (area resampling, mask outlines, drawing them), the
picks of the round table (`collect_picks`), and finding the experiment's data again (`find_data`) through
alseg's own dataset loaders, so that ids map to images exactly as in the benchmark.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image

from alseg.errors import AlsegError

if TYPE_CHECKING:  # the dataset layer loads only when a gallery is drawn
    from alseg.datasets.base import SegDataset

THUMB_SIZE = 96
OUTLINE_COLOR = (0, 255, 0)
OUTLINE_WIDTH = 2
JPEG_QUALITY = 85
CONFIG_NAME = "config.toml"

# --- pure image functions --------------------------------------------------------------------------------


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) box-filter matrix: row i holds the share of each input pixel that output pixel i covers.

    Input pixel j spans [j, j + 1) and output pixel i spans [i, i + 1) * n_in / n_out; every row sums to 1, so
    shrinking averages blocks and enlarging repeats pixels (area resampling, exact for integer factors).
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"area_weights needs positive sizes, got {n_in} and {n_out}")
    scale = n_in / n_out
    lo = np.arange(n_out, dtype=float)[:, None] * scale
    left = np.arange(n_in, dtype=float)[None, :]
    overlap = np.minimum(lo + scale, left + 1.0) - np.maximum(lo, left)
    return np.clip(overlap, 0.0, None) / scale


def resize_area(array: np.ndarray, size: int) -> np.ndarray:
    """An (H, W) or (H, W, C) array resampled to (size, size[, C]) by area averaging, as float."""
    if array.ndim not in (2, 3):
        raise ValueError(f"resize_area needs an (H, W) or (H, W, C) array, got shape {array.shape}")
    rows, cols = area_weights(array.shape[0], size), area_weights(array.shape[1], size)
    tall = np.tensordot(rows, array.astype(float), axes=(1, 0))  # (size, W[, C])
    return np.moveaxis(np.tensordot(cols, tall, axes=(1, 1)), 0, 1)  # (size, size[, C])


def thumbnail(image: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """An RGB uint8 image as a size x size uint8 thumbnail (area resampling, rounded to the nearest level)."""
    return np.clip(np.rint(resize_area(image, size)), 0, 255).astype(np.uint8)


def thumbnail_mask(mask: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """A binary mask at thumbnail size: a pixel is foreground where at least half of its area was."""
    return resize_area(mask.astype(bool), size) >= 0.5


def erode(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """Binary erosion by the 4-neighbour cross, `steps` times; outside the image counts as background."""
    out = mask.astype(bool)
    for _ in range(steps):
        p = np.pad(out, 1, constant_values=False)
        out = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return out


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The inner boundary of a binary mask, `width` pixels thick: foreground within `width` steps of background."""
    if width < 1:
        raise ValueError(f"outline width must be at least 1, got {width}")
    fg = mask.astype(bool)
    return fg & ~erode(fg, width)


def draw_outline(
    image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = OUTLINE_COLOR, width: int = 1
) -> np.ndarray:
    """A copy of an RGB image with the outline of `mask` (same height and width) painted in `color`."""
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image {image.shape[:2]} and mask {mask.shape} differ in size")
    out = np.array(image, dtype=np.uint8, copy=True)
    out[outline(mask, width)] = color
    return out


def outlined_thumbnail(image: np.ndarray, mask: np.ndarray, size: int = THUMB_SIZE,
                       width: int = OUTLINE_WIDTH) -> np.ndarray:
    """The gallery's picture of one image: its thumbnail with the ground-truth mask outlined."""
    return draw_outline(thumbnail(image, size), thumbnail_mask(mask, size), OUTLINE_COLOR, width)


def jpeg_data_uri(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """An RGB uint8 array as a base64 JPEG data URI (no chroma subsampling, so thin outlines stay crisp)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").save(buf, "JPEG", quality=quality,
                                                                           subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# --- the picks of the round table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """The images one (strategy, seed) run selected at the end of one round, in the order it stored them."""

    strategy: str
    seed: int
    round: int
    n_labeled: int  # labeled images the selecting model was trained on
    ids: tuple[str, ...]
    picked_entropy: float | None  # mean predictive entropy of the picked images, where the record has it


def _ids(value: object) -> tuple[str, ...]:
    """A `selected` cell as a tuple of ids (None or NaN: none)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(str(v) for v in value)
    return ()


def collect_picks(rounds: pd.DataFrame, order: Sequence[str]) -> list[Pick]:
    """Every non-empty selection of the AL runs (no ceiling), sorted by seed, round and strategy order."""
    rank = {name: i for i, name in enumerate(order)}
    picks = []
    for r in rounds.itertuples(index=False):
        name, ids = str(r.strategy), _ids(r.selected)
        if name not in rank or not ids or str(getattr(r, "status", "done")) != "done":
            continue
        entropy = getattr(r, "picked_entropy", None)
        score = None if entropy is None or pd.isna(entropy) else float(entropy)
        picks.append(Pick(name, int(r.seed), int(r.round), int(r.n_labeled), ids, score))
    return sorted(picks, key=lambda p: (p.seed, p.round, rank[p.strategy]))


# --- finding the experiment's data again -----------------------------------------------------------------


class DataUnavailable(Exception):
    """The gallery's images cannot be shown; the message says why (the page shows it instead of the gallery)."""


def _config(root: Path) -> dict[str, Any]:
    """The [bench] options of an experiment's config.toml (read leniently: keys with '_' or '-', unknown kept)."""
    from alseg.config_file import bench_table, read_config_text, tomllib

    path = root / CONFIG_NAME
    if not path.is_file():
        raise DataUnavailable(f"{path} does not exist, so the data folder is unknown; pass --data-dir")
    try:
        table = bench_table(tomllib.loads(read_config_text(path)), str(path))
    except (AlsegError, tomllib.TOMLDecodeError) as err:
        raise DataUnavailable(f"cannot read {path}: {err}") from err
    return {str(k).replace("-", "_"): v for k, v in table.items()}


def search_bases(root: Path, config: Mapping[str, Any], cwd: Path | None = None) -> list[Path]:
    """Folders a relative path of the config may be relative to: the cwd, then the experiment's repo root.

    The repo root is the folder the config's relative `out` started from (root = base/out/name), and the
    nearest folder above the experiment holding .git or pyproject.toml.
    """
    here = Path(cwd) if cwd is not None else Path.cwd()
    bases = [here]
    exp = Path(os.path.abspath(root))
    out = config.get("out")
    if isinstance(out, str) and out and not Path(out).is_absolute():
        parts = Path(out).parts
        if exp.parts[-len(parts) - 1:-1] == parts:  # still where the benchmark put it
            bases.append(exp.parents[len(parts)])
    bases += [p for p in exp.parents if (p / ".git").exists() or (p / "pyproject.toml").is_file()][:1]
    return list(dict.fromkeys(Path(os.path.abspath(b)) for b in bases))


def find_relative(value: str, bases: Sequence[Path]) -> tuple[Path, Path | None] | None:
    """The existing path `value` names and the base it was found under (None for an absolute path); else None."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return (path, None) if path.exists() else None
    return next(((b / path, b) for b in bases if (b / path).exists()), None)


def _option(config: Mapping[str, Any], key: str, source: Path) -> str | None:
    """A string option of config.toml, or None; any other type is a reason to leave the gallery out."""
    value = config.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DataUnavailable(f"{source / CONFIG_NAME}: '{key.replace('_', '-')}' is not a string ({value!r})")
    return value


@dataclass(frozen=True)
class DataSource:
    """Where an experiment's data is: the arguments its benchmark passed to alseg.datasets.load_dataset."""

    dataset: str
    image_size: int
    data_dir: Path | None = None
    split_file: Path | None = None
    cache_dir: Path | None = None  # an existing cache folder only: a report never creates one


def locate_data(root: Path, protocol: Mapping[str, Any], data_dir: Path | None = None,
                cwd: Path | None = None) -> DataSource:
    """Where one experiment's data is, from its protocol and config.toml (data-dir, split-file, cache-dir).

    Relative paths are tried under the cwd, then under the experiment's repo root (`search_bases`);
    `data_dir` (the --data-dir option) replaces config.toml's data-dir.
    """
    name, size = protocol.get("dataset"), protocol.get("image_size")
    if not isinstance(name, str) or isinstance(size, bool) or not isinstance(size, int):
        raise DataUnavailable(f"{root / 'experiment.json'} names no dataset and image size, so its images are "
                              "unknown")
    if name == "synthetic":
        return DataSource(name, size)  # generated from its seed, no files
    config: dict[str, Any] = {}
    try:
        config = _config(root)
    except DataUnavailable:
        if data_dir is None:
            raise  # with --data-dir given, the config only adds the split file and the cache folder
    bases = search_bases(root, config, cwd)
    found_in: Path | None = None
    if data_dir is not None:
        folder = Path(data_dir)
    else:
        value = _option(config, "data_dir", root)
        if value is None:
            raise DataUnavailable(f"{root / CONFIG_NAME} names no data-dir; pass --data-dir")
        hit = find_relative(value, bases)
        if hit is None:
            tried = ", ".join(str(b / value) for b in bases) if not Path(value).is_absolute() else value
            raise DataUnavailable(f"the data folder data-dir = {value!r} of {root / CONFIG_NAME} is not there "
                                  f"(tried {tried}); pass --data-dir")
        folder, found_in = hit
    split_value = _option(config, "split_file", root)
    split = find_relative(split_value, bases) if split_value else None
    if split_value and split is None:
        raise DataUnavailable(f"the split file split-file = {split_value!r} of {root / CONFIG_NAME} is not there")
    cache_value = _option(config, "cache_dir", root)
    cache = None
    if cache_value:  # relative: beside the data folder's base, else under the first base that has it
        hit = find_relative(cache_value, [found_in] if found_in is not None else bases)
        cache = hit[0] if hit is not None and hit[0].is_dir() else None
    return DataSource(name, size, folder, split[0] if split else None, cache)


def load_source(source: DataSource, protocol: Mapping[str, Any]) -> SegDataset:
    """Load the data through alseg's dataset loaders and check it is the data the experiment ran on."""
    from alseg.datasets import load_dataset

    try:
        data = load_dataset(source.dataset, data_dir=source.data_dir, image_size=source.image_size,
                            cache_dir=source.cache_dir, seed=0, split_file=source.split_file)
    except (AlsegError, OSError, ValueError) as err:
        where = f" in {source.data_dir}" if source.data_dir is not None else ""
        raise DataUnavailable(f"could not load the {source.dataset} data{where}: {err}") from err
    stored = protocol.get("data_fingerprint")
    if isinstance(stored, str) and stored and stored != data.fingerprint:
        where = source.data_dir if source.data_dir is not None else f"the {source.dataset} data"
        raise DataUnavailable(f"{where} is not the data this experiment ran on (fingerprint {data.fingerprint[:16]}, "
                              f"stored {stored[:16]}): left out rather than show images under the wrong ids")
    return data


def find_data(roots: Sequence[Path], protocol: Mapping[str, Any], data_dir: Path | None = None,
              cwd: Path | None = None) -> SegDataset:
    """The data of the first experiment folder whose data loads; DataUnavailable says why none did."""
    reasons = []
    for root in roots:
        try:
            return load_source(locate_data(Path(root), protocol, data_dir, cwd), protocol)
        except DataUnavailable as err:
            reasons.append(str(err))
    raise DataUnavailable("; ".join(dict.fromkeys(reasons)) or "no experiment folder given")


def check_ids(data: SegDataset, picks: Sequence[Pick]) -> dict[str, int]:
    """Index of every picked id in the data; DataUnavailable names ids the data lacks."""
    index = {str(i): k for k, i in enumerate(data.ids)}
    missing = sorted({i for p in picks for i in p.ids if i not in index})
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataUnavailable(f"the {data.name} data lacks {len(missing)} picked image ids ({shown})")
    return {i: index[i] for p in picks for i in p.ids}
