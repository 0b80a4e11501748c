"""Read the samples of image and mask files, and decode images by the image rule, refusing what is unreadable.

The mask rule, which starts from the same samples, lives in `alseg.datasets.masks`.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from alseg.errors import AlsegUsageError

# Bump when a rule above or the mask rule (alseg.datasets.masks) changes: it is part of the cache key (never of
# the dataset fingerprint), so that arrays decoded by an older rule are rebuilt.
DECODER_VERSION = 2

TIFF_EXTENSIONS = (".tif", ".tiff")
_LOSSY_TIFF = {tifffile.COMPRESSION.JPEG, tifffile.COMPRESSION.OJPEG, tifffile.COMPRESSION.WEBP,
               tifffile.COMPRESSION.JPEG_2000_LOSSY, tifffile.COMPRESSION.JPEG_LOSSY}
_ALPHA_SAMPLES = {tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA}
_CONVERTED_MODES = ("CMYK", "YCbCr", "LAB", "HSV")
_MASK_FIX = "save each mask as a grey PNG holding 0 (background) and 255 (foreground)"


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


IMAGE_ALPHA = Note("image-alpha", "image has a transparent alpha channel, dropped (colour kept, not composited)",
                   "images have a transparent alpha channel, dropped (colour kept, not composited)")
IMAGE_DIM16 = Note("image-dim16", "16-bit image holds no value above 255 and, scaled by its bit depth "
                   "(v*255/65535), is nearly black: save 8-bit data as an 8-bit file",
                   "16-bit images hold no value above 255 and, scaled by their bit depth (v*255/65535), are "
                   "nearly black: save 8-bit data as 8-bit files")
IMAGE_PNG48 = Note("image-png48", "16-bit colour PNG was reduced to 8 bits by Pillow (high byte, within 1 of "
                   "v*255/65535)", "16-bit colour PNGs were reduced to 8 bits by Pillow (high byte, within 1 of "
                   "v*255/65535)")


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
