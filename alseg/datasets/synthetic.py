"""Procedural polyp-like endoscopy images, generated in memory so that tests and demos need no data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

from alseg.datasets.base import SegDataset, check_image_size, readonly
from alseg.errors import AlsegUsageError

GENERATOR_VERSION = 1
MAX_POLYPS = 3
HARD_SHARE = 0.25
N_HIGHLIGHTS = 8
N_HARMONICS = 3
_CHUNK = 64
_COARSE = 12


def synthetic_fingerprint(seed: int, n_train: int, n_test: int, image_size: int) -> str:
    """Hash the generator version and parameters: they fully determine the arrays."""
    params = {
        "generator": "alseg-synthetic",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "image_size": image_size,
    }
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def _draw_params(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw every per-image and per-polyp parameter up front, so chunking cannot change results."""
    hard = rng.random(n) < HARD_SHARE
    n_polyps = rng.choice([1, 2, 3], size=n, p=[0.6, 0.3, 0.1])
    active = np.arange(MAX_POLYPS)[None, :] < n_polyps[:, None]
    # Total polyp area 3-30 % of the frame (log-uniform), shared between the polyps.
    total = np.exp(rng.uniform(np.log(0.03), np.log(0.30), size=n))
    share = rng.dirichlet(np.full(MAX_POLYPS, 2.0), size=n) * active
    share /= share.sum(axis=1, keepdims=True)
    # Inactive slots get a dummy area so that no division by zero happens; they are masked out.
    area = np.where(active, np.maximum(total[:, None] * share, 0.01), 0.05)
    aspect = rng.uniform(0.55, 1.0, size=(n, MAX_POLYPS))
    # Frame spans [-1, 1]^2 (area 4): pi * a * b = 4 * area, b = aspect * a.
    semi_a = np.sqrt(4.0 * area / (np.pi * aspect))
    mucosa = np.stack([rng.uniform(0.70, 0.92, n), rng.uniform(0.30, 0.44, n), rng.uniform(0.28, 0.42, n)], axis=1)
    # Polyp colour offset: clearly different for easy cases, nearly equal for hard ones.
    # Direction of the offset: mostly brighter/darker and more/less red, a little hue jitter.
    tint = (
        rng.normal(0.0, 1.0, size=(n, MAX_POLYPS, 1)) * np.array([1.0, 1.0, 1.0])
        + rng.normal(0.0, 1.0, size=(n, MAX_POLYPS, 1)) * np.array([0.7, -0.5, -0.3])
        + rng.normal(0.0, 0.25, size=(n, MAX_POLYPS, 3))
    )
    tint /= np.linalg.norm(tint, axis=2, keepdims=True) + 1e-9
    strength = np.where(
        hard[:, None], rng.uniform(0.015, 0.045, (n, MAX_POLYPS)), rng.uniform(0.07, 0.22, (n, MAX_POLYPS))
    )
    params = {
        "hard": hard,
        "active": active,
        "cx": rng.uniform(-0.6, 0.6, size=(n, MAX_POLYPS)),
        "cy": rng.uniform(-0.6, 0.6, size=(n, MAX_POLYPS)),
        "semi_a": semi_a,
        "semi_b": semi_a * aspect,
        "theta": rng.uniform(0.0, np.pi, size=(n, MAX_POLYPS)),
        "harm_amp": rng.uniform(0.0, 0.09, size=(n, MAX_POLYPS, N_HARMONICS)),
        "harm_phase": rng.uniform(0.0, 2 * np.pi, size=(n, MAX_POLYPS, N_HARMONICS)),
        "mucosa": mucosa,
        "polyp_colour": np.clip(mucosa[:, None, :] + strength[..., None] * tint, 0.05, 0.98),
        "dome": np.where(
            hard[:, None], rng.uniform(0.0, 0.10, (n, MAX_POLYPS)), rng.uniform(0.12, 0.35, (n, MAX_POLYPS))
        ),
        "edge": np.where(
            hard[:, None], rng.uniform(0.04, 0.10, (n, MAX_POLYPS)), rng.uniform(0.008, 0.05, (n, MAX_POLYPS))
        ),
        "light": rng.uniform(0.0, 2 * np.pi, size=n),
        "vignette": rng.uniform(0.35, 0.75, size=n),
        "texture": rng.uniform(0.04, 0.10, size=n),
        "hl_x": rng.uniform(-0.9, 0.9, size=(n, N_HIGHLIGHTS)),
        "hl_y": rng.uniform(-0.9, 0.9, size=(n, N_HIGHLIGHTS)),
        "hl_on": rng.random((n, N_HIGHLIGHTS)) < 0.6,
        "hl_size": rng.uniform(0.008, 0.03, size=(n, N_HIGHLIGHTS)),
    }
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in params.items()}


def _render_chunk(
    p: dict[str, np.ndarray], coarse: np.ndarray, noise: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Render one chunk of images and masks from its parameters and white-noise fields."""
    n = noise.shape[0]
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    yy, xx = axis[:, None], axis[None, :]

    # Mucosa: smooth low-frequency shading plus fine texture, one luminance field per image.
    # The low-frequency field is drawn on a fixed coarse grid, so it looks alike at any size.
    low = gaussian_filter(coarse, sigma=(0, 1.5, 1.5), mode="wrap")
    low = zoom(low, (1, size / _COARSE, size / _COARSE), order=1, grid_mode=True, mode="grid-wrap")
    low /= low.std(axis=(1, 2), keepdims=True) + 1e-6
    fine_sigma = max(0.7, size / 100)
    fine = gaussian_filter(noise, sigma=(0, fine_sigma, fine_sigma), mode="wrap")
    fine /= fine.std(axis=(1, 2), keepdims=True) + 1e-6
    tex = p["texture"][:, None, None].astype(np.float32)
    shade = 1.0 + 0.10 * low + tex * fine
    img = p["mucosa"][:, None, None, :].astype(np.float32) * shade[..., None]
    mask = np.zeros((n, size, size), dtype=bool)

    for k in range(MAX_POLYPS):
        on = p["active"][:, k]
        if not on.any():
            continue
        dx = xx[None] - p["cx"][:, k, None, None]
        dy = yy[None] - p["cy"][:, k, None, None]
        c, s = np.cos(p["theta"][:, k])[:, None, None], np.sin(p["theta"][:, k])[:, None, None]
        u = (c * dx + s * dy) / p["semi_a"][:, k, None, None]
        v = (-s * dx + c * dy) / p["semi_b"][:, k, None, None]
        rho = np.sqrt(u * u + v * v)
        phi = np.arctan2(v, u)
        boundary = np.ones_like(rho)
        for h in range(N_HARMONICS):
            amp = p["harm_amp"][:, k, h, None, None]
            boundary += amp * np.cos((h + 2) * phi + p["harm_phase"][:, k, h, None, None])
        # Signed distance in units of the semi-major axis: positive inside.
        depth = (boundary - rho) * p["semi_a"][:, k, None, None]
        inside = (depth > 0) & on[:, None, None]
        mask |= inside
        alpha = 1.0 / (1.0 + np.exp(np.clip(-depth / p["edge"][:, k, None, None], -30.0, 30.0)))
        alpha *= on[:, None, None]
        # Dome shading: brighter towards the top of the dome and towards the light.
        height = np.sqrt(np.clip(1.0 - (rho / boundary) ** 2, 0.0, 1.0))
        lx, ly = np.cos(p["light"])[:, None, None], np.sin(p["light"])[:, None, None]
        directional = (u * lx + v * ly) / (boundary + 1e-6)
        dome = p["dome"][:, k, None, None]
        polyp_shade = (1.0 - dome * 0.6) + dome * height + 0.5 * dome * directional * height
        polyp = p["polyp_colour"][:, k, None, None, :] * (polyp_shade * (1.0 + tex * 0.7 * fine))[..., None]
        img = img * (1.0 - alpha[..., None]) + polyp * alpha[..., None]

    # Vignetting: an endoscope's light falls off towards the corners.
    r2 = (xx * xx + yy * yy)[None]
    vig = np.clip(1.0 - p["vignette"][:, None, None] * np.clip(r2 - 0.35, 0.0, None), 0.05, 1.0)
    img *= vig[..., None]

    # Specular highlights: small saturated white blobs.
    spec = np.zeros((n, size, size), dtype=np.float32)
    for j in range(N_HIGHLIGHTS):
        d2 = (xx[None] - p["hl_x"][:, j, None, None]) ** 2 + (yy[None] - p["hl_y"][:, j, None, None]) ** 2
        width = p["hl_size"][:, j, None, None] ** 2
        spec = np.maximum(spec, p["hl_on"][:, j, None, None] * np.exp(-d2 / (2.0 * width)))
    spec = np.clip(spec * 1.6, 0.0, 1.0)[..., None]
    img = img * (1.0 - spec) + spec
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mask


def generate_synthetic(n: int, image_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate n images (N, S, S, 3) uint8 and masks (N, S, S) bool, deterministic in seed."""
    params_seq, noise_seq = np.random.SeedSequence([GENERATOR_VERSION, seed]).spawn(2)
    params = _draw_params(np.random.default_rng(params_seq), n)
    noise_rng = np.random.default_rng(noise_seq)
    images = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    masks = np.empty((n, image_size, image_size), dtype=bool)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        chunk = {key: value[start:stop] for key, value in params.items()}
        coarse = noise_rng.standard_normal((stop - start, _COARSE, _COARSE), dtype=np.float32)
        noise = noise_rng.standard_normal((stop - start, image_size, image_size), dtype=np.float32)
        images[start:stop], masks[start:stop] = _render_chunk(chunk, coarse, noise, image_size)
    return images, masks


def load_synthetic(
    *,
    data_dir: Path | None = None,
    image_size: int,
    cache_dir: Path | None = None,
    seed: int = 0,
    split_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    n_train: int = 300,
    n_test: int = 60,
) -> SegDataset:
    """Build the synthetic dataset in memory (no files, no cache); data_dir and cache_dir are ignored."""
    size = check_image_size(image_size)
    if split_file is not None:
        raise AlsegUsageError("the synthetic dataset has a built-in split: drop the split file option")
    if n_train < 1 or n_test < 1:
        raise AlsegUsageError(f"synthetic needs n_train >= 1 and n_test >= 1, got {n_train} and {n_test}")
    n = n_train + n_test
    images, masks = generate_synthetic(n, size, seed)
    if progress is not None:
        progress(n, n)
    return SegDataset(
        name="synthetic",
        ids=tuple(f"syn-{i:05d}" for i in range(n)),
        images=readonly(images),
        masks=readonly(masks),
        train=np.arange(n_train, dtype=np.int64),
        test=np.arange(n_train, n, dtype=np.int64),
        fingerprint=synthetic_fingerprint(seed, n_train, n_test, size),
        split_source=f"synthetic (seed={seed}): first {n_train} train, last {n_test} test",
    )
