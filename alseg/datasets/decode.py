"""Decode image and mask files into arrays by one rule each, and refuse what cannot be read correctly.

Reading (both kinds)
--------------------
TIFFs whose photometric is BlackIsZero or RGB are read with tifffile (the CVC-ClinicDB release stores its
colour frames as 3-sample BlackIsZero TIFFs, which Pillow cannot open); a BlackIsZero TIFF with 3 or more
samples is read as RGB. Every other file (and TIFFs of other photometrics: palette, WhiteIsZero, CMYK,
YCbCr, or that tifffile rejects) is read with Pillow. An extra sample is alpha when the TIFF marks it so,
and dropped otherwise. Palette images are expanded through their palette colours (to RGBA when the palette
has transparency). CMYK, YCbCr, LAB and HSV are converted to RGB by Pillow. Integer samples wider than
16 bits must fit in 0..65535 and are read as 16-bit; signed samples must not be negative.

Images -> (H, W, 3) uint8
-------------------------
- Alpha is dropped, not composited: the colour is kept as stored (a warning names images whose alpha is
  not fully opaque).
- Samples are scaled by their bit depth, never by the image's own values: 1-bit x 255; 8-bit as is;
  16-bit round(v * 255 / 65535), rounded half up (a warning names 16-bit images with no value above 255:
  scaled by bit depth they are nearly black); float samples must be finite and in [0, 1] and become
  round(v * 255), rounded half up; float images outside [0, 1] are refused.
- Grey is repeated to 3 channels.
- 16-bit-per-channel colour (and grey + alpha) PNGs are delivered by Pillow as 8 bits (the high byte,
  v >> 8, at most 1 below the rule's value): a warning names them.

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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from alseg.errors import AlsegUsageError

# Bump when a rule above changes: it is part of the cache key (never of the dataset fingerprint), so that
# arrays decoded by an older rule are rebuilt.
DECODER_VERSION = 2

TIFF_EXTENSIONS = (".tif", ".tiff")
MIDDLE_LIMIT = 0.05  # a two-level mask has at most this share of pixels in the middle band
LEVEL_LIMIT = 0.01  # and no single middle value holding more than this share
COLOUR_AGREEMENT = 0.99  # share of foreground pixels that must light the same channels
_CHANNEL_NAMES = ("red", "green", "blue")
_LOSSY_TIFF = {tifffile.COMPRESSION.JPEG, tifffile.COMPRESSION.OJPEG, tifffile.COMPRESSION.WEBP,
               tifffile.COMPRESSION.JPEG_2000_LOSSY, tifffile.COMPRESSION.JPEG_LOSSY}
_ALPHA_SAMPLES = {tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA}
_CONVERTED_MODES = ("CMYK", "YCbCr", "LAB", "HSV")
_MASK_FIX = "save each mask as a grey PNG holding 0 (background) and 255 (foreground)"
_LABEL_FIX = "save one binary mask per image (0 background, 255 foreground)"


class DecodeError(ValueError):
    """A file alseg cannot read correctly: `reason` says why, `fix` what to do about it."""

    def __init__(self, reason: str, fix: str = _MASK_FIX) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class Note:
    """Something worth telling about a decoded file; notes with the same key aggregate into one warning."""

    key: str
    one: str  # phrase after "1 " ("mask was ...")
    many: str  # phrase after "N " ("masks were ...")


MASK_JPEG = Note("mask-jpeg", "mask was JPEG-noisy and was binarised at > half its range (> 127 for 8 bits)",
                 "masks were JPEG-noisy and were binarised at > half their range (> 127 for 8 bits)")
MASK_STRAY = Note("mask-stray", "mask held values besides its two levels and was binarised at > half its range "
                  "(> 127 for 8 bits)", "masks held values besides their two levels and were binarised at > half "
                  "their range (> 127 for 8 bits)")
MASK_ALPHA = Note("mask-alpha", "mask carries the mask in its alpha channel (colour constant), which was used",
                  "masks carry the mask in their alpha channel (colour constant), which was used")
IMAGE_ALPHA = Note("image-alpha", "image has a transparent alpha channel, dropped (colour kept, not composited)",
                   "images have a transparent alpha channel, dropped (colour kept, not composited)")
IMAGE_DIM16 = Note("image-dim16", "16-bit image holds no value above 255 and, scaled by its bit depth "
                   "(v*255/65535), is nearly black: save 8-bit data as an 8-bit file",
                   "16-bit images hold no value above 255 and, scaled by their bit depth (v*255/65535), are "
                   "nearly black: save 8-bit data as 8-bit files")
IMAGE_PNG48 = Note("image-png48", "16-bit colour PNG was reduced to 8 bits by Pillow (high byte, within 1 of "
                   "v*255/65535)", "16-bit colour PNGs were reduced to 8 bits by Pillow (high byte, within 1 of "
                   "v*255/65535)")


def _channel_note(channels: np.ndarray) -> Note:
    """Note for a colour mask read from some of its channels only (e.g. pure red on black)."""
    names = "+".join(_CHANNEL_NAMES[c] for c in channels)
    word = "channel" if len(channels) == 1 else "channels"
    return Note(f"mask-channel-{names}", f"colour mask has its foreground in the {names} {word}, which was used",
                f"colour masks have their foreground in the {names} {word}, which was used")


def _converted_note(mode: str) -> Note:
    """Note for an image Pillow converted to RGB from another colour space."""
    extra = " (no colour profile)" if mode == "CMYK" else ""
    return Note(f"image-{mode}", f"image was {mode} and was converted to RGB by Pillow{extra}",
                f"images were {mode} and were converted to RGB by Pillow{extra}")


@dataclass(frozen=True)
class Pixels:
    """Raw samples of one file as (H, W, C): C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGB + alpha."""

    array: np.ndarray
    lossy: bool = False
    notes: tuple[Note, ...] = ()
    wide_colour_png: bool = False  # a 16-bit colour PNG that Pillow reduced to 8 bits

    @property
    def alpha(self) -> bool:
        """Whether the last channel is alpha."""
        return self.array.shape[2] in (2, 4)


# ---------------------------------------------------------------------------------------------- reading


def normalise_samples(arr: np.ndarray) -> np.ndarray:
    """Bring samples to bool, uint8, uint16 or float64 by the reading rule; DecodeError for the rest."""
    if arr.dtype == np.bool_ or arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "f":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind not in "iu":
        raise DecodeError(f"holds {arr.dtype} samples", "save it with 8-bit or 16-bit integer samples")
    low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if low < 0 or high > 65535:
        raise DecodeError(f"holds {arr.dtype} samples from {low} to {high}, outside 0..65535",
                          "save it with 8-bit or 16-bit unsigned samples")
    return arr.astype(np.uint8 if arr.dtype.itemsize == 1 else np.uint16)


def _depth(arr: np.ndarray) -> float:
    """Top of the sample range R: 1 (bool, float), 255 (8-bit) or 65535 (16-bit)."""
    return {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype, 1.0)


def _with_channels(arr: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 1); (H, W, C) kept; anything else refused."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DecodeError(f"has unsupported shape {arr.shape}", "save it as a single 2-D grey or RGB picture")
    return arr


def pixels_from_pil(im: Image.Image, *, lossy: bool = False, wide_colour_png: bool = False) -> Pixels:
    """Turn a loaded Pillow image of any mode into Pixels by the reading rule."""
    mode, notes, target = im.mode, (), None
    if mode in ("P", "PA"):
        target = "RGBA" if mode == "PA" or "transparency" in im.info else "RGB"
    elif mode in ("La", "RGBa"):
        target = mode.upper()
    elif mode in _CONVERTED_MODES or mode == "RGBX":
        target = "RGB"
        if mode not in ("YCbCr", "RGBX"):  # YCbCr -> RGB is the exact, standard conversion: nothing to tell
            notes = (_converted_note(mode),)
    elif mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F") and not mode.startswith("I;16"):
        target = "RGB"
    if target is not None:
        try:
            im = im.convert(target)
        except (ValueError, OSError) as exc:
            raise DecodeError(f"has Pillow mode {mode}, which alseg cannot convert to {target} ({exc})",
                              "save it as an 8-bit grey or RGB PNG") from exc
    arr = np.asarray(im)
    if mode.startswith("I;16"):
        arr = arr.astype(np.uint16)
    return Pixels(_with_channels(normalise_samples(arr)), lossy=lossy, notes=notes, wide_colour_png=wide_colour_png)


def _read_tiff(path: Path) -> Pixels | None:
    """Read a BlackIsZero or RGB TIFF with tifffile; None when Pillow should read it instead."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB):
                return None
            arr = np.asarray(page.asarray())
            axes, extras, lossy = page.axes, tuple(page.extrasamples), page.compression in _LOSSY_TIFF
            base = 1 if page.photometric == tifffile.PHOTOMETRIC.MINISBLACK else 3  # samples before the extras
    except Exception:
        return None  # Pillow reads some TIFF flavours that tifffile rejects
    if axes == "SYX":
        arr = np.moveaxis(arr, 0, -1)
    elif axes not in ("YX", "YXS"):
        raise DecodeError(f"is a TIFF with axes {axes}", "save one 2-D picture per file")
    arr = _with_channels(arr) if arr.ndim == 2 or arr.shape[2] <= 4 else _with_channels(arr[..., :4])
    colour = 1 if arr.shape[2] < 3 else 3
    alpha = arr.shape[2] > colour and len(extras) > colour - base and extras[colour - base] in _ALPHA_SAMPLES
    arr = arr[..., : colour + 1] if alpha else arr[..., :colour]
    return Pixels(normalise_samples(arr), lossy=lossy)


def read_pixels(path: Path) -> Pixels:
    """Read a file's samples (tifffile for BlackIsZero/RGB TIFFs, Pillow otherwise); errors propagate."""
    if path.suffix.lower() in TIFF_EXTENSIONS:
        pixels = _read_tiff(path)
        if pixels is not None:
            return pixels
    with Image.open(path) as im:
        wide = im.format == "PNG" and im.mode in ("LA", "RGB", "RGBA") and any(";16" in str(t.args) for t in im.tile)
        im.load()
        lossy = im.format in ("JPEG", "MPO") or im.info.get("compression") in ("jpeg", "tiff_jpeg")
        return pixels_from_pil(im, lossy=lossy, wide_colour_png=wide)


# ---------------------------------------------------------------------------------------------- images


def _to_uint8(arr: np.ndarray, notes: list[Note]) -> np.ndarray:
    """Scale samples to 0..255 by their bit depth (never by the image's own values)."""
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        if arr.size and int(arr.max()) <= 255:
            notes.append(IMAGE_DIM16)
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
        finite = arr[np.isfinite(arr)]
        span = f"{finite.min():g} to {finite.max():g}" if finite.size else "no finite value"
        extra = " and NaN or infinite values" if finite.size < arr.size else ""
        raise DecodeError(f"is a float image with values {span}{extra}; alseg reads float images as [0, 1]",
                          "scale the image to [0, 1] or save it with 8-bit or 16-bit integer samples")
    return np.floor(arr * 255.0 + 0.5).astype(np.uint8)


def image_from_pixels(pixels: Pixels) -> tuple[np.ndarray, list[Note]]:
    """Apply the image rule: drop alpha, scale by bit depth, repeat grey; returns (H, W, 3) uint8 and notes."""
    arr, notes = pixels.array, list(pixels.notes)
    if pixels.wide_colour_png:
        notes.append(IMAGE_PNG48)
    if pixels.alpha:
        alpha = arr[..., -1]
        opaque = alpha.all() if alpha.dtype == np.bool_ else bool((alpha >= _depth(alpha)).all())
        if not opaque:
            notes.append(IMAGE_ALPHA)
        arr = arr[..., :-1]
    out = _to_uint8(arr, notes)
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out), notes


# ---------------------------------------------------------------------------------------------- masks


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


# ---------------------------------------------------------------------------------------------- files


def _read(path: Path, what: str) -> Pixels:
    """Read a file's samples, turning any reader failure into a DecodeError."""
    try:
        return read_pixels(path)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"cannot decode {what} ({exc})", "replace or remove the file") from exc


def read_image(path: Path) -> tuple[np.ndarray, list[Note]]:
    """Decode an image file to (H, W, 3) uint8 by the image rule, with notes; DecodeError when it cannot."""
    return image_from_pixels(_read(path, "image"))


def read_mask(path: Path) -> tuple[np.ndarray, list[Note]]:
    """Decode a mask file to (H, W) bool by the mask rule, with notes; DecodeError when it cannot."""
    return mask_from_pixels(_read(path, "mask"))


def describe(what: str, name: str, error: DecodeError) -> str:
    """'mask NAME holds ...' or 'cannot decode image NAME (...)': one file's problem, for messages."""
    if error.reason.startswith("cannot decode"):
        return error.reason.replace(f"cannot decode {what}", f"cannot decode {what} {name}", 1)
    return f"{what} {name} {error.reason}"


def usage_error(what: str, path: Path, error: DecodeError) -> AlsegUsageError:
    """The user-facing error for one file that cannot be read correctly: names the file and the fix."""
    return AlsegUsageError(f"{describe(what, str(path), error)}: {error.fix}")


def decode_image(path: Path) -> np.ndarray:
    """Decode one image file to (H, W, 3) uint8; AlsegUsageError naming the file when it cannot."""
    try:
        return read_image(path)[0]
    except DecodeError as exc:
        raise usage_error("image", path, exc) from exc


def decode_mask(path: Path) -> np.ndarray:
    """Decode one mask file to (H, W) bool; AlsegUsageError naming the file when it cannot."""
    try:
        return read_mask(path)[0]
    except DecodeError as exc:
        raise usage_error("mask", path, exc) from exc
