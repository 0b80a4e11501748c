"""Decode mask files into (H, W) bool by the mask rule, and refuse masks that cannot be read unambiguously.

Samples are read by the reading rule in `alseg.datasets.decode` (shared with images); this module turns
them into a mask.

Masks -> (H, W) bool
--------------------
A mask keeps its raw levels (no scaling). R is the top of its sample range: 1 for 1-bit and float samples,
255 for 8-bit, 65535 for 16-bit. "Lossy" means a JPEG file (or a JPEG-compressed TIFF).

1. Alpha (LA, RGBA, palette with transparency): a constant alpha is ignored. If the colour is the same
   at every pixel and alpha varies, alpha is the mask. If both vary, colour and alpha are each decoded by
   steps 2-3 and must give the same mask; otherwise the file is refused.
2. Colour to one plane. A grey mask, or a colour mask whose channels are equal at every pixel, is its
   plane. Otherwise the informative channels are those that vary (lossless files) or whose range
   (max - min) is at least half the largest channel range (lossy files: the others hold compression
   noise), and the plane is their per-pixel maximum: pure red, green or blue on black, white on black,
   or any other single colour on a background all work. The foreground must be one colour: when the
   plane is exactly two-level (rule 3a) all foreground pixels must have the same colour; otherwise
   99 % of the foreground pixels must light the same informative channels (a channel is lit at a pixel
   when it is at least half the plane's value there). More colours are refused as a multi-class label
   map. A colour mask of one colour everywhere is all foreground unless that colour is black.
3. Plane to bool.
   a. Lossless plane with at most two distinct values, one of them 0 (values within {0, k} for any
      k > 0): foreground = plane > 0. This covers {0, 255}, {0, 1}, {0, k}, 16-bit {0, 65535}, {0, 1},
      {0, k}, 1-bit masks and float {0.0, 1.0}. A constant plane is all foreground unless it is 0.
   b. Any other plane (and every lossy plane) is read as a noisy two-level picture, such as a JPEG mask
      or a mask with stray grey pixels (CVC-ClinicDB's): foreground = plane > R / 2 (> 127 for 8-bit,
      the binarisation the released polyp datasets use), which keeps a single stray bright pixel as it
      is. It is refused when
      - more than 5 % of the pixels lie in the middle band R/4 < v < 3R/4 (a soft or greyscale picture,
        not a two-level mask),
      - one value of the middle band holds more than 1 % of the pixels (a third label),
      - no pixel is above R / 2, unless the file is lossy and no pixel is above R / 4 (faint JPEG noise on
        an empty mask stays empty; a lossless {0, 1, 2} or {1, 2} is a label map),
      - float samples are not finite or lie outside [0, 1].
   16-bit colour (and grey + alpha) PNG masks are refused: Pillow reduces them to 8 bits, which would
   turn a {0, 1} mask into an empty one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alseg.datasets.decode import DecodeError, Note, Pixels, _depth, _read, usage_error

MIDDLE_LIMIT = 0.05  # a two-level mask has at most this share of pixels in the middle band
LEVEL_LIMIT = 0.01  # and no single middle value holding more than this share
COLOUR_AGREEMENT = 0.99  # share of foreground pixels that must light the same channels
_CHANNEL_NAMES = ("red", "green", "blue")
_LABEL_FIX = "save one binary mask per image (0 background, 255 foreground)"


MASK_JPEG = Note("mask-jpeg", "mask was JPEG-noisy and was binarised at > half its range (> 127 for 8 bits)",
                 "masks were JPEG-noisy and were binarised at > half their range (> 127 for 8 bits)")
MASK_STRAY = Note("mask-stray", "mask held values besides its two levels and was binarised at > half its range "
                  "(> 127 for 8 bits)", "masks held values besides their two levels and were binarised at > half "
                  "their range (> 127 for 8 bits)")
MASK_ALPHA = Note("mask-alpha", "mask carries the mask in its alpha channel (colour constant), which was used",
                  "masks carry the mask in their alpha channel (colour constant), which was used")


def _channel_note(channels: np.ndarray) -> Note:
    """Note for a colour mask read from some of its channels only (e.g. pure red on black)."""
    names = "+".join(_CHANNEL_NAMES[c] for c in channels)
    word = "channel" if len(channels) == 1 else "channels"
    return Note(f"mask-channel-{names}", f"colour mask has its foreground in the {names} {word}, which was used",
                f"colour masks have their foreground in the {names} {word}, which was used")


def _distinct(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and their counts (bincount for integers: fast on large masks)."""
    if plane.dtype.kind in "u":
        counts = np.bincount(plane.ravel(), minlength=1)
        values = np.flatnonzero(counts)
        return values, counts[values]
    return np.unique(plane, return_counts=True)


def plane_to_mask(plane: np.ndarray, *, lossy: bool = False) -> tuple[np.ndarray, list[Note], bool]:
    """Apply rule 3 to one 2-D plane: returns (mask, notes, exact), exact when rule 3a applied."""
    if plane.dtype == np.bool_:
        return plane.copy(), [], True
    depth = _depth(plane)
    if plane.dtype.kind == "f" and not np.isfinite(plane).all():
        raise DecodeError("is a float mask with NaN or infinite values")
    values, counts = _distinct(plane)
    if not lossy and (values.size == 1 or (values.size == 2 and values[0] == 0)):
        return plane > 0, [], True
    if plane.dtype.kind == "f" and (values[0] < 0.0 or values[-1] > 1.0):
        raise DecodeError(f"is a float mask with {values.size} distinct values from {values[0]:g} to {values[-1]:g}; "
                          "float masks must hold {0, k} or lie in [0, 1]")
    n = plane.size
    in_middle = (values > depth / 4) & (values < 3 * depth / 4)
    n_middle = int(counts[in_middle].sum())
    top = f"{depth:.0f}" if depth > 1 else "1"
    if n_middle > MIDDLE_LIMIT * n:
        raise DecodeError(f"is not a two-level mask: {n_middle / n:.0%} of its pixels lie between a quarter and "
                          f"three quarters of the range 0..{top}, as in a soft or greyscale picture")
    if n_middle and counts[in_middle].max() > LEVEL_LIMIT * n:
        level = values[in_middle][np.argmax(counts[in_middle])]
        raise DecodeError(f"holds a third level {level:g} on {counts[in_middle].max() / n:.1%} of its pixels "
                          f"besides {values[0]:g} and {values[-1]:g}, as a multi-class label map does",
                          _LABEL_FIX)
    mask = plane > depth / 2
    exact_two = values.size <= 2 and values[0] == 0
    if not mask.any() and not (lossy and values[-1] <= depth / 4):
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if values.size > 6 else "")
        raise DecodeError(f"holds the levels {shown} and none above half the range 0..{top}, "
                          "as a multi-class label map or a dim picture does",
                          _LABEL_FIX)
    if exact_two or values.size == 1:
        return mask, [], False
    return mask, [MASK_JPEG if lossy else MASK_STRAY], False


def _colours(arr: np.ndarray, limit: int = 4) -> str:
    """A few distinct colours of an (N, C) array, for messages."""
    found = np.unique(arr.reshape(-1, arr.shape[-1]), axis=0)
    shown = ", ".join("(" + ",".join(f"{v:g}" for v in c) + ")" for c in found[:limit])
    return shown + (f" and {len(found) - limit} more" if len(found) > limit else "")


def _check_one_colour(colour: np.ndarray, channels: np.ndarray, plane: np.ndarray, mask: np.ndarray,
                      exact: bool) -> None:
    """Refuse a colour mask whose foreground has more than one colour (a multi-class label map)."""
    fg = colour[mask]
    if not fg.size:
        return
    if exact:
        if (fg != fg[0]).any():
            raise DecodeError(f"has several foreground colours ({_colours(fg)}), as a multi-class label map does",
                              _LABEL_FIX)
        return
    lit = fg[:, channels].astype(np.float64) >= plane[mask][:, None].astype(np.float64) / 2
    codes = lit @ (1 << np.arange(len(channels)))
    counts = np.bincount(codes)
    if counts.max() < COLOUR_AGREEMENT * len(codes):
        combos = ["+".join(_CHANNEL_NAMES[channels[i]] for i in range(len(channels)) if code >> i & 1)
                  for code in np.argsort(-counts)[:3] if counts[code]]
        raise DecodeError(f"has foreground of several colours (lit channels {', '.join(combos)}), "
                          "as a multi-class label map does", _LABEL_FIX)


def colour_to_mask(arr: np.ndarray, *, lossy: bool = False) -> tuple[np.ndarray, list[Note]]:
    """Apply rules 2-3 to (H, W, 1) grey or (H, W, 3) colour samples; returns (mask, notes)."""
    if arr.shape[2] == 1 or all(np.array_equal(arr[..., 0], arr[..., c]) for c in range(1, arr.shape[2])):
        mask, notes, _ = plane_to_mask(arr[..., 0], lossy=lossy)
        return mask, notes
    wide = arr.astype(np.float64)
    ranges = wide.max(axis=(0, 1)) - wide.min(axis=(0, 1))
    informative = ranges >= ranges.max() / 2 if lossy else ranges > 0
    channels = np.flatnonzero(informative) if informative.any() else np.arange(arr.shape[2])
    plane = arr[..., channels].max(axis=2)
    mask, notes, exact = plane_to_mask(plane, lossy=lossy)
    _check_one_colour(arr, channels, plane, mask, exact)
    if len(channels) < arr.shape[2]:
        notes.append(_channel_note(channels))
    return mask, notes


def mask_from_pixels(pixels: Pixels) -> tuple[np.ndarray, list[Note]]:
    """Apply the mask rule (alpha, colour, plane) to a file's samples; returns (H, W) bool and notes."""
    if pixels.wide_colour_png:
        raise DecodeError("is a 16-bit colour PNG, which Pillow reduces to 8 bits")
    arr = pixels.array
    if not pixels.alpha:
        return colour_to_mask(arr, lossy=pixels.lossy)
    colour, alpha = arr[..., :-1], arr[..., -1]
    alpha_varies = bool((alpha != alpha.flat[0]).any())
    colour_varies = bool((colour != colour[:1, :1]).any())
    if not alpha_varies:
        return colour_to_mask(colour, lossy=pixels.lossy)
    if not colour_varies:
        mask, notes, _ = plane_to_mask(alpha, lossy=pixels.lossy)
        return mask, [MASK_ALPHA, *notes]
    from_colour, notes = colour_to_mask(colour, lossy=pixels.lossy)
    try:
        from_alpha, _, _ = plane_to_mask(alpha, lossy=pixels.lossy)
    except DecodeError as exc:
        raise DecodeError(f"has colour and alpha that both vary, and its alpha {exc.reason}") from exc
    differ = int((from_colour != from_alpha).sum())
    if differ:
        raise DecodeError(f"has colour and alpha that both vary and disagree on {differ} pixels, so neither is "
                          "surely the mask",
                          "save the mask as a grey PNG without alpha (0 background, 255 foreground)")
    return from_colour, notes


def read_mask(path: Path) -> tuple[np.ndarray, list[Note]]:
    """Decode a mask file to (H, W) bool by the mask rule, with notes; DecodeError when it cannot."""
    return mask_from_pixels(_read(path, "mask"))


def decode_mask(path: Path) -> np.ndarray:
    """Decode one mask file to (H, W) bool; AlsegUsageError naming the file when it cannot."""
    try:
        return read_mask(path)[0]
    except DecodeError as exc:
        raise usage_error("mask", path, exc) from exc
