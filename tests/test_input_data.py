"""Input that never lies: every file alseg reads is decoded by a documented rule or refused, naming the file.

Masks and images are generated here in every encoding and Pillow mode; split files, layout detection, mask
statistics and the cache key are tested on small folders; the realdata tests pin the CVC-ClinicDB fingerprint
and decoded arrays to what the reference experiment used.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from alseg.datasets import cache as cache_mod
from alseg.datasets import folder as folder_mod
from alseg.datasets import load_dataset
from alseg.datasets.base import SegDataset
from alseg.datasets.cache import cache_folder, fingerprint_files
from alseg.datasets.checks import check_masks
from alseg.datasets.decode import (
    DECODER_VERSION,
    DecodeError,
    Pixels,
    image_from_pixels,
    pixels_from_pil,
    read_image,
)
from alseg.datasets.detect import detect_dataset
from alseg.datasets.masks import colour_to_mask, decode_mask, mask_from_pixels, plane_to_mask, read_mask
from alseg.datasets.pairs import scan_pairs
from alseg.datasets.splits import split_from_file
from alseg.errors import AlsegUsageError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CVC = SHARED / "cvc-clinicdb"
KVASIR = SHARED / "kvasir-seg"
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "cvc-clinicdb-cpu" / "experiment.json"
H, W = 30, 40


def _reference_mask() -> np.ndarray:
    """A rectangle and a disk: the foreground every encoding below must decode to."""
    yy, xx = np.mgrid[:H, :W]
    mask = np.zeros((H, W), dtype=bool)
    mask[5:20, 8:25] = True
    return mask | (((yy - 22) ** 2 + (xx - 32) ** 2) < 36)


REF = _reference_mask()
RNG_IMAGE = np.random.default_rng(7).integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def png16(path: Path, array: np.ndarray) -> Path:
    """Write a 16-bit-per-channel colour PNG by hand (Pillow cannot write one)."""
    h, w, _ = array.shape
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def _palette_image(indices: np.ndarray, colours: list[tuple[int, int, int]]) -> Image.Image:
    """A mode-P image with the given palette colours (the rest of the palette black)."""
    im = Image.fromarray(indices.astype(np.uint8), mode="L").convert("P")
    im.putdata(indices.astype(np.uint8).ravel().tolist())
    flat = [v for c in colours for v in c]
    im.putpalette(flat + [0] * (768 - len(flat)))
    return im


def _save(path: Path, array: np.ndarray, **kw: object) -> Path:
    Image.fromarray(array).save(path, **kw)
    return path


def _rgb(colour: tuple[int, int, int], background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    out = np.empty((H, W, 3), dtype=np.uint8)
    out[:] = background
    out[REF] = colour
    return out


def _write_mask(kind: str, folder: Path) -> Path:
    """Write REF in one encoding; the file name says which."""
    m8 = REF.astype(np.uint8)
    if kind.startswith("L-0-"):
        return _save(folder / f"{kind}.png", m8 * np.uint8(int(kind[4:])))
    if kind.startswith("I16-0-"):
        return _save(folder / f"{kind}.png", REF.astype(np.uint16) * np.uint16(int(kind[6:])))
    colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255),
               "dim-red": (100, 0, 0)}
    if kind in colours:
        return _save(folder / f"{kind}.png", _rgb(colours[kind]))
    if kind == "red-on-constant-green":
        return _save(folder / f"{kind}.png", _rgb((255, 255, 0), background=(0, 255, 0)))
    if kind in ("rgba-alpha-black", "rgba-alpha-white"):
        rgba = np.zeros((H, W, 4), dtype=np.uint8)
        rgba[..., :3] = 0 if kind.endswith("black") else 255
        rgba[..., 3] = m8 * 255
        return _save(folder / f"{kind}.png", rgba)
    if kind == "rgba-agree":
        rgba = np.concatenate([_rgb((255, 0, 0)), (m8 * 200)[..., None]], axis=2)
        return _save(folder / f"{kind}.png", rgba)
    if kind == "rgba-opaque":
        rgba = np.concatenate([_rgb((255, 255, 255)), np.full((H, W, 1), 255, np.uint8)], axis=2)
        return _save(folder / f"{kind}.png", rgba)
    if kind == "LA-alpha":
        la = np.stack([np.full((H, W), 77, np.uint8), m8 * 255], axis=2)
        return _save(folder / f"{kind}.png", la)
    if kind == "P-black-white":
        _palette_image(m8, [(0, 0, 0), (255, 255, 255)]).save(folder / f"{kind}.png")
    elif kind == "P-white-index-0":  # index numbers do not matter, colours do
        _palette_image(1 - m8, [(255, 255, 255), (0, 0, 0)]).save(folder / f"{kind}.png")
    elif kind == "P-voc-dark-red":
        _palette_image(m8, [(0, 0, 0), (128, 0, 0)]).save(folder / f"{kind}.png")
    elif kind == "P-transparent-background":
        _palette_image(m8, [(0, 0, 0), (255, 255, 255)]).save(folder / f"{kind}.png", transparency=0)
    elif kind == "1-bit-png":
        Image.fromarray(REF).save(folder / f"{kind}.png")
    elif kind == "1-bit-tiff":
        Image.fromarray(REF).save(folder / f"{kind}.tif")
        return folder / f"{kind}.tif"
    elif kind == "float-tiff":
        tifffile.imwrite(folder / f"{kind}.tif", REF.astype(np.float32))
        return folder / f"{kind}.tif"
    elif kind == "tiff-3-sample-blackiszero":  # the CVC-ClinicDB release's masks
        tifffile.imwrite(folder / f"{kind}.tif", np.repeat(m8[..., None] * 255, 3, axis=2), photometric="minisblack",
                         planarconfig="contig")
        return folder / f"{kind}.tif"
    elif kind == "tiff-16-bit-rgb":
        tifffile.imwrite(folder / f"{kind}.tif", np.repeat(REF[..., None], 3, axis=2).astype(np.uint16) * 65535,
                         photometric="rgb")
        return folder / f"{kind}.tif"
    elif kind == "bmp":
        return _save(folder / f"{kind}.bmp", m8 * 255)
    elif kind in ("jpeg-grey", "jpeg-rgb"):
        data = m8 * 255 if kind == "jpeg-grey" else np.repeat(m8[..., None] * 255, 3, axis=2)
        return _save(folder / f"{kind}.jpg", data, quality=75)
    else:
        raise AssertionError(kind)
    return folder / f"{kind}.png"


MASK_KINDS = [
    *(f"L-0-{k}" for k in (255, 1, 2, 100, 127, 128, 200, 254)),
    *(f"I16-0-{k}" for k in (65535, 1, 100, 300, 40000)),
    "red", "green", "blue", "white", "dim-red", "red-on-constant-green",
    "rgba-alpha-black", "rgba-alpha-white", "rgba-agree", "LA-alpha",
    "P-black-white", "P-white-index-0", "P-voc-dark-red", "P-transparent-background",
    "1-bit-png", "1-bit-tiff", "float-tiff", "tiff-3-sample-blackiszero", "tiff-16-bit-rgb", "bmp",
    "jpeg-grey", "jpeg-rgb",
]


# ---------------------------------------------------------------- masks: one rule, every encoding


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_mask_encoding_decodes_to_the_reference(tmp_path: Path, kind: str) -> None:
    path = _write_mask(kind, tmp_path)
    mask, notes = read_mask(path)
    assert mask.dtype == np.bool_ and mask.shape == (H, W)
    np.testing.assert_array_equal(mask, REF)
    keys = {n.key for n in notes}
    if kind in ("red", "dim-red", "red-on-constant-green", "P-voc-dark-red"):
        assert "mask-channel-red" in keys
    if kind in ("green", "blue"):
        assert f"mask-channel-{kind}" in keys
    if kind.startswith(("rgba-alpha", "LA-alpha")):
        assert "mask-alpha" in keys
    if kind.startswith("jpeg"):
        values = np.unique(np.asarray(Image.open(path)))
        assert values.size > 2 and "mask-jpeg" in keys  # really noisy, and said so


def test_jpeg_masks_like_kvasir_are_binarised_at_127(tmp_path: Path) -> None:
    """Values spread near 0 and near 255 (quality 50): foreground is > 127, as the released masks are read."""
    path = _save(tmp_path / "noisy.jpg", np.repeat(REF[..., None].astype(np.uint8) * 255, 3, axis=2), quality=50)
    raw = np.asarray(Image.open(path))
    assert 0 < raw[~REF].max() < 128 and 127 < raw[REF].min() < 255
    mask, _ = read_mask(path)
    np.testing.assert_array_equal(mask, raw[..., 0] > 127)
    np.testing.assert_array_equal(mask, REF)


def test_empty_jpeg_mask_with_faint_noise_stays_empty(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 7, size=(H, W)).astype(np.uint8)
    path = _save(tmp_path / "faint.jpg", noise, quality=90)
    raw = np.asarray(Image.open(path))
    assert np.unique(raw).size > 2 and raw.max() < 32
    mask, _ = read_mask(path)
    assert not mask.any()
    # The same levels in a lossless file are not noise but a label map or a dim picture: refused.
    with pytest.raises(DecodeError, match="label map"):
        read_mask(_save(tmp_path / "faint.png", noise))


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_single_stray_bright_pixel_is_kept(tmp_path: Path, ext: str) -> None:
    """Kvasir-SEG has masks whose only other bright pixel is (0, 0): kept, as > 127 of the released file."""
    image = np.zeros((H, W), dtype=np.uint8)
    image[0, 0] = 255
    path = _save(tmp_path / f"stray{ext}", image, **({"quality": 95} if ext == ".jpg" else {}))
    mask, _ = read_mask(path)
    assert mask[0, 0] and mask.sum() == 1
    np.testing.assert_array_equal(mask, np.asarray(Image.open(path)) > 127)


def _refused(path: Path, match: str) -> str:
    """Decode through the public file API and return the message, checking it names the file."""
    with pytest.raises(AlsegUsageError, match=match) as info:
        decode_mask(path)
    assert path.name in str(info.value)
    return str(info.value)


def test_multiclass_grey_label_map_is_refused(tmp_path: Path) -> None:
    labels = REF.astype(np.uint8)
    labels[25:, :10] = 2
    message = _refused(_save(tmp_path / "labels.png", labels), "label map")
    assert "0 background, 255 foreground" in message  # the fix


def test_third_grey_level_is_refused(tmp_path: Path) -> None:
    labels = REF.astype(np.uint8) * 255
    labels[25:, :10] = 128
    _refused(_save(tmp_path / "three.png", labels), "third level 128")


def test_two_nonzero_levels_are_refused(tmp_path: Path) -> None:
    _refused(_save(tmp_path / "one-two.png", REF.astype(np.uint8) + 1), "label map")


def test_several_foreground_colours_are_refused(tmp_path: Path) -> None:
    image = _rgb((255, 0, 0))
    image[25:, :10] = (0, 255, 0)
    _refused(_save(tmp_path / "red-green.png", image), "several foreground colours")


def test_palette_with_two_foreground_colours_is_refused(tmp_path: Path) -> None:
    indices = REF.astype(np.uint8)
    indices[25:, :10] = 2
    path = tmp_path / "voc.png"
    _palette_image(indices, [(0, 0, 0), (128, 0, 0), (0, 128, 0)]).save(path)
    _refused(path, "several foreground colours")


def test_colour_and_alpha_that_disagree_are_refused(tmp_path: Path) -> None:
    rgba = np.concatenate([_rgb((255, 255, 255)), np.zeros((H, W, 1), np.uint8)], axis=2)
    rgba[:10, :, 3] = 255  # alpha marks another region than the colour
    _refused(_save(tmp_path / "disagree.png", rgba), "disagree")


def test_soft_greyscale_picture_is_refused(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    _refused(_save(tmp_path / "ramp.png", ramp), "not a two-level mask")
    _refused(_save(tmp_path / "photo.png", RNG_IMAGE), "not a two-level mask|several")


def test_float_mask_outside_unit_range_is_refused(tmp_path: Path) -> None:
    values = REF.astype(np.float32) * 3.0
    values[0, :5] = (0.5, 1.5, 2.0, 2.5, 7.0)
    tifffile.imwrite(tmp_path / "float.tif", values)
    _refused(tmp_path / "float.tif", r"float mask")


def test_sixteen_bit_colour_png_mask_is_refused(tmp_path: Path) -> None:
    path = png16(tmp_path / "wide.png", np.repeat(REF[..., None], 3, axis=2).astype(np.uint16))
    _refused(path, "16-bit colour PNG")


# ---------------------------------------------------------------- masks: the rule on hand-made arrays


def test_plane_rule_on_small_arrays() -> None:
    two = np.array([[0, 7], [7, 0]], dtype=np.uint8)
    mask, notes, exact = plane_to_mask(two)
    assert exact and not notes and mask.tolist() == [[False, True], [True, False]]
    assert plane_to_mask(np.zeros((2, 2), np.uint8))[0].sum() == 0
    assert plane_to_mask(np.full((2, 2), 5, np.uint8))[0].all()  # constant non-zero: all foreground
    noisy = np.zeros((10, 10), np.uint8)
    noisy[:5] = 250
    noisy[0, 0], noisy[9, 9] = 140, 11  # stray values: binarised at > 127, and said so
    mask, notes, exact = plane_to_mask(noisy)
    assert not exact and notes and mask.sum() == 50 and mask[0, 0] and not mask[9, 9]
    wide = np.zeros((10, 10), np.uint16)
    wide[:5] = 65535
    wide[0, 0], wide[9, 9] = 32768, 32767  # > half the 16-bit range is foreground
    mask = plane_to_mask(wide)[0]
    assert mask.sum() == 50 and mask[0, 0] and not mask[9, 9]
    with pytest.raises(DecodeError, match="two-level"):
        plane_to_mask(np.arange(100, dtype=np.uint8).reshape(10, 10) + 78)
    faint = np.array([[0, 3], [6, 1]], dtype=np.uint8)
    assert not plane_to_mask(faint, lossy=True)[0].any()
    with pytest.raises(DecodeError, match="label map"):
        plane_to_mask(faint, lossy=False)
    dim = np.zeros((10, 10), np.uint8)
    dim[:5] = 100
    dim[9, 9] = 97
    with pytest.raises(DecodeError):  # a dim JPEG object is not faint noise: refused, never silently empty
        plane_to_mask(dim, lossy=True)
    floats = np.array([[0.0, 0.9], [0.1, 1.0]])
    assert plane_to_mask(floats)[0].tolist() == [[False, True], [False, True]]


def test_colour_rule_on_small_arrays() -> None:
    arr = np.zeros((2, 2, 3), np.uint8)
    arr[0, 0] = (0, 0, 9)
    mask, notes = colour_to_mask(arr)
    assert mask.tolist() == [[True, False], [False, False]] and notes[0].key == "mask-channel-blue"
    grey = np.repeat(np.array([[0, 255], [255, 0]], np.uint8)[..., None], 3, axis=2)
    mask, notes = colour_to_mask(grey)
    assert mask.tolist() == [[False, True], [True, False]] and not notes
    constant = np.zeros((2, 2, 3), np.uint8)
    constant[..., 1] = 255
    assert colour_to_mask(constant)[0].all()  # one non-black colour everywhere: all foreground


def test_alpha_rule_on_small_arrays() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 40
    rgba[0, 1, 3] = 255
    mask, notes = mask_from_pixels(Pixels(rgba))
    assert mask.tolist() == [[False, True], [False, False]] and notes[0].key == "mask-alpha"
    rgba[..., 3] = 255  # constant alpha: ignored, colour decides
    rgba[1, 1, :3] = 255
    assert mask_from_pixels(Pixels(rgba))[0].tolist() == [[False, False], [False, True]]


# ---------------------------------------------------------------- images: every mode, one rule


def _scale16(values: np.ndarray) -> np.ndarray:
    """v * 255 / 65535 rounded (v / 257 never ends in .5, so no tie-breaking question)."""
    return np.round(values.astype(np.float64) / 257.0).astype(np.uint8)


def _image_case(mode: str, folder: Path) -> tuple[Path, np.ndarray, set[str]]:
    """Write one image in a Pillow mode; return its path, the expected (H, W, 3) uint8 and expected note keys."""
    rgb = Image.fromarray(RNG_IMAGE)
    grey = np.asarray(rgb.convert("L"))
    if mode == "1":
        bits = grey > 127
        Image.fromarray(bits).save(folder / "one.png")
        return folder / "one.png", np.repeat(bits[..., None].astype(np.uint8) * 255, 3, axis=2), set()
    if mode == "L":
        return _save(folder / "l.png", grey), np.repeat(grey[..., None], 3, axis=2), set()
    if mode == "LA":
        alpha = (REF * 255).astype(np.uint8)
        path = _save(folder / "la.png", np.stack([grey, alpha], axis=2))
        return path, np.repeat(grey[..., None], 3, axis=2), {"image-alpha"}  # alpha dropped, not composited
    if mode == "P":
        im = rgb.convert("P")
        im.save(folder / "p.png")
        return folder / "p.png", np.asarray(im.convert("RGB")), set()
    if mode == "RGB":
        return _save(folder / "rgb.png", RNG_IMAGE), RNG_IMAGE, set()
    if mode == "RGBA":
        rgba = np.concatenate([RNG_IMAGE, (REF * 255).astype(np.uint8)[..., None]], axis=2)
        return _save(folder / "rgba.png", rgba), RNG_IMAGE, {"image-alpha"}
    if mode in ("CMYK", "YCbCr"):
        im = rgb.convert(mode)
        im.save(folder / f"{mode}.tif")
        return folder / f"{mode}.tif", np.asarray(im.convert("RGB")), {"image-CMYK"} if mode == "CMYK" else set()
    if mode == "I;16":
        wide = (grey.astype(np.uint16) * 257) ^ np.uint16(0x5A)
        return _save(folder / "i16.png", wide), np.repeat(_scale16(wide)[..., None], 3, axis=2), set()
    if mode == "I":
        wide = grey.astype(np.int32) * 250
        Image.fromarray(wide, mode="I").save(folder / "i.tif")
        return folder / "i.tif", np.repeat(_scale16(wide)[..., None], 3, axis=2), set()
    if mode == "F":
        values = np.random.default_rng(1).random((H, W)).astype(np.float32)
        Image.fromarray(values, mode="F").save(folder / "f.tif")
        expected = np.round(values.astype(np.float64) * 255).astype(np.uint8)
        return folder / "f.tif", np.repeat(expected[..., None], 3, axis=2), set()
    if mode == "tiff-rgb16":
        wide = RNG_IMAGE.astype(np.uint16) * 257 + 100
        tifffile.imwrite(folder / "rgb16.tif", wide, photometric="rgb")
        return folder / "rgb16.tif", _scale16(wide), set()
    raise AssertionError(mode)


IMAGE_MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F", "tiff-rgb16"]


@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_image_mode_decodes_by_the_rule(tmp_path: Path, mode: str) -> None:
    path, expected, note_keys = _image_case(mode, tmp_path)
    if mode in Image.MODES or mode.startswith("I;16"):
        with Image.open(path) as im:
            assert im.mode == mode, "the fixture must really be stored in this mode"
    image, notes = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (H, W, 3)
    np.testing.assert_array_equal(image, expected)
    assert {n.key for n in notes} == note_keys


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F"])
def test_image_rule_on_pillow_images_in_every_mode(mode: str) -> None:
    """The Pillow path (also used for TIFFs that tifffile does not read) on in-memory images."""
    base = Image.fromarray(RNG_IMAGE)
    if mode in ("I;16", "I"):
        im = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16 if mode == "I;16" else np.int32) * 200)
        assert im.mode == mode
        expected = np.repeat(_scale16(np.asarray(base.convert("L")).astype(np.int64) * 200)[..., None], 3, axis=2)
    elif mode == "F":
        im = Image.fromarray(np.asarray(base.convert("L")).astype(np.float32) / 255.0, mode="F")
        expected = np.repeat(np.asarray(base.convert("L"))[..., None], 3, axis=2)
    else:
        im = base.convert(mode)
        expected = np.asarray(im.convert("RGB"))
    image, _ = image_from_pixels(pixels_from_pil(im))
    np.testing.assert_array_equal(image, expected)


def test_sixteen_bit_image_is_scaled_by_bit_depth_not_its_max(tmp_path: Path) -> None:
    small = np.tile(np.arange(W, dtype=np.uint16) * 6, (H, 1))  # all values <= 255 in a 16-bit file
    image, notes = read_image(_save(tmp_path / "dim.png", small))
    np.testing.assert_array_equal(image[..., 0], _scale16(small))
    assert image.max() <= 1 and "image-dim16" in {n.key for n in notes}  # nearly black, and said so


def test_float_image_outside_unit_range_is_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "hdr.tif", np.full((H, W), 3.5, np.float32))
    with pytest.raises(DecodeError, match=r"float image with values 3\.5"):
        read_image(tmp_path / "hdr.tif")


def test_negative_integer_image_is_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "ct.tif", np.full((H, W), -1000, np.int16))
    with pytest.raises(DecodeError, match=r"outside 0\.\.65535"):
        read_image(tmp_path / "ct.tif")


def test_other_tiff_photometrics_go_through_pillow(tmp_path: Path) -> None:
    grey = np.asarray(Image.fromarray(RNG_IMAGE).convert("L"))
    tifffile.imwrite(tmp_path / "white.tif", grey, photometric="miniswhite")
    image, _ = read_image(tmp_path / "white.tif")
    np.testing.assert_array_equal(image[..., 0], 255 - grey)  # WhiteIsZero shown as a viewer shows it
    palette = Image.fromarray(RNG_IMAGE).convert("P")
    palette.save(tmp_path / "palette.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "palette.tif")[0], np.asarray(palette.convert("RGB")))


def test_sixteen_bit_colour_png_image_keeps_the_high_byte_and_says_so(tmp_path: Path) -> None:
    wide = RNG_IMAGE.astype(np.uint16) * 257
    image, notes = read_image(png16(tmp_path / "wide.png", wide))
    np.testing.assert_array_equal(image, (wide >> 8).astype(np.uint8))
    assert "image-png48" in {n.key for n in notes}


# ---------------------------------------------------------------- folder loading: errors and warnings


def _folder(root: Path, masks: dict[str, np.ndarray], ext: str = ".png", **kw: object) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for stem, mask in masks.items():
        _save(root / "images" / f"{stem}.png", RNG_IMAGE)
        _save(root / "masks" / f"{stem}{ext}", mask, **kw)
    return root


def test_hundred_level_masks_are_foreground_now(tmp_path: Path) -> None:
    """{0, 100} masks used to load as 0 % foreground, so every strategy scored Dice 0."""
    root = _folder(tmp_path / "d", {str(i): REF.astype(np.uint8) * 100 for i in range(1, 5)})
    ds = load_dataset("folder", data_dir=root, image_size=W, cache_dir=tmp_path / "c")
    assert ds.masks.mean() > 0.2 and ds.warnings == ()


def test_loading_lists_up_to_ten_bad_files_and_the_fix(tmp_path: Path) -> None:
    labels = REF.astype(np.uint8)
    labels[25:, :10] = 2
    root = _folder(tmp_path / "d", {str(i): labels if i > 2 else REF.astype(np.uint8) * 255 for i in range(1, 15)})
    with pytest.raises(AlsegUsageError) as info:
        load_dataset("folder", data_dir=root, image_size=16, cache_dir=tmp_path / "c")
    message = str(info.value)
    assert message.startswith("12 files cannot be read correctly")
    assert "masks/3.png" in message and "masks/12.png" in message and "and 2 more" in message
    assert "masks/13.png" not in message and "label map" in message and "To fix:" in message


def test_warnings_are_aggregated_and_survive_the_cache(tmp_path: Path) -> None:
    masks = {str(i): np.repeat(REF[..., None].astype(np.uint8) * 255, 3, axis=2) for i in range(1, 15)}
    root = _folder(tmp_path / "d", masks, ext=".jpg", quality=75)
    _save(root / "masks" / "14.jpg", _rgb((0, 255, 0)), quality=95)
    Image.fromarray(RNG_IMAGE).convert("CMYK").save(root / "images" / "13.jpg")
    (root / "images" / "13.png").unlink()
    first = load_dataset("folder", data_dir=root, image_size=16, cache_dir=tmp_path / "c")
    jpeg = [w for w in first.warnings if "JPEG-noisy" in w]
    assert len(jpeg) == 1 and jpeg[0].startswith("14 masks were JPEG-noisy") and "and 4 more" in jpeg[0]
    assert "1 colour mask has its foreground in the green channel, which was used: 14.jpg" in first.warnings
    assert any(w.startswith("1 image was CMYK") and "13.jpg" in w for w in first.warnings)
    second = load_dataset("folder", data_dir=root, image_size=16, cache_dir=tmp_path / "c")
    assert isinstance(second.images, np.memmap) and second.warnings == first.warnings


def test_seg_dataset_checks_its_warnings() -> None:
    arrays = dict(images=np.zeros((2, 8, 8, 3), np.uint8), masks=np.zeros((2, 8, 8), bool),
                  train=np.array([0]), test=np.array([1]), fingerprint="f", split_source="s")
    assert SegDataset(name="x", ids=("a", "b"), **arrays).warnings == ()
    with pytest.raises(ValueError, match="warnings"):
        SegDataset(name="x", ids=("a", "b"), warnings=["not a tuple"], **arrays)  # type: ignore[arg-type]


# ---------------------------------------------------------------- split files


@pytest.fixture
def eight(tmp_path: Path) -> tuple[Path, list[folder_mod.Pair]]:
    root = _folder(tmp_path / "d", {str(i): REF.astype(np.uint8) * 255 for i in range(1, 9)})
    return root, scan_pairs(root / "images", root / "masks")


def _split(tmp_path: Path, train: list[object], test: list[object], name: str = "s.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"train": train, "test": test}))
    return path


def test_split_entries_may_be_ids_names_or_paths_inside_the_folder(tmp_path: Path, eight) -> None:
    root, pairs = eight
    path = _split(tmp_path, ["1", "2.png", "images/3.png", "masks/4.png", "./images/5.png", "images\\6.png", 7],
                  ["8"])
    train, test, _ = split_from_file(path, pairs, root)
    assert train.tolist() == list(range(7)) and test.tolist() == [7]


@pytest.mark.parametrize("entry", ["../other/7.png", "/abs/7.png", "images/../../7.png", "C:\\data\\7.png"])
def test_split_entries_outside_the_folder_are_refused(tmp_path: Path, eight, entry: str) -> None:
    root, pairs = eight
    path = _split(tmp_path, ["1", "2"], ["3", entry])
    with pytest.raises(AlsegUsageError, match="outside the data folder") as info:
        split_from_file(path, pairs, root)
    assert str(path) in str(info.value) and repr(entry) in str(info.value)


@pytest.mark.parametrize("entry", ["other/7.png", "7.tif", "images/7.jpg", "ghost", "", None, {"id": 7}])
def test_split_entries_that_name_no_file_are_refused(tmp_path: Path, eight, entry: object) -> None:
    """A stem match is not enough: `other/7.png` and `7.tif` name no file of the dataset (7 is images/7.png)."""
    root, pairs = eight
    path = _split(tmp_path, ["1", "2"], ["3", entry])
    with pytest.raises(AlsegUsageError, match="no file of the dataset") as info:
        split_from_file(path, pairs, root)
    assert str(path) in str(info.value)


def test_split_duplicates_overlap_and_empty_splits_are_refused(tmp_path: Path, eight) -> None:
    root, pairs = eight
    with pytest.raises(AlsegUsageError, match=r"listed more than once: 7 in test \(as '7', 'images/7.png'\)"):
        split_from_file(_split(tmp_path, ["1"], ["7", "images/7.png"]), pairs, root)
    with pytest.raises(AlsegUsageError, match="1 image is in both train and test: 2"):
        split_from_file(_split(tmp_path, ["1", "2"], ["2.png"]), pairs, root)
    with pytest.raises(AlsegUsageError, match="the test split is empty"):
        split_from_file(_split(tmp_path, ["1", "2"], []), pairs, root)
    with pytest.raises(AlsegUsageError, match="the train split is empty"):
        split_from_file(_split(tmp_path, [], ["1"]), pairs, root)
    csv = tmp_path / "s.csv"
    csv.write_text("id,split\n1,train\n../x/2.png,test\n")
    with pytest.raises(AlsegUsageError, match="outside"):
        split_from_file(csv, pairs, root)


def test_split_errors_name_at_most_ten_entries(tmp_path: Path, eight) -> None:
    root, pairs = eight
    path = _split(tmp_path, ["1"], [f"ghost{i}" for i in range(12)])
    with pytest.raises(AlsegUsageError) as info:
        split_from_file(path, pairs, root)
    message = str(info.value)
    assert "12 entries name no file" in message and "'ghost9'" in message and "'ghost10'" not in message
    assert "and 2 more" in message


def test_cvc_split_file_uses_the_same_rules(tmp_path: Path) -> None:
    root = _folder(tmp_path / "cvc", {str(i): REF.astype(np.uint8) * 255 for i in (1, 2, 14)})
    bad = _split(tmp_path, ["1", "../elsewhere/2.png"], ["14"])
    with pytest.raises(AlsegUsageError, match="outside the data folder"):
        load_dataset("cvc-clinicdb", data_dir=root, image_size=16, cache_dir=None, split_file=bad)


# ---------------------------------------------------------------- mask statistics


def _dataset(fractions: list[float], n_test: int = 1) -> SegDataset:
    n = len(fractions)
    masks = np.zeros((n, 10, 10), dtype=bool)
    for i, fraction in enumerate(fractions):
        masks[i].flat[: round(fraction * 100)] = True
    return SegDataset(name="mine", ids=tuple(f"m{i}" for i in range(n)), images=np.zeros((n, 10, 10, 3), np.uint8),
                      masks=masks, train=np.arange(n - n_test, dtype=np.int64),
                      test=np.arange(n - n_test, n, dtype=np.int64), fingerprint="f", split_source="s")


def test_check_masks_refuses_all_empty_training_masks() -> None:
    data = _dataset([0, 0, 0, 0.2])
    with pytest.raises(AlsegUsageError, match="--allow-empty-masks"):
        check_masks(data)
    warnings = check_masks(data, allow_empty=True)
    assert len(warnings) == 1 and "allowed by --allow-empty-masks" in warnings[0]


def test_check_masks_refuses_majority_foreground() -> None:
    data = _dataset([0.9, 0.8, 0.7, 0.1])
    with pytest.raises(AlsegUsageError, match=r"inverted.*--allow-majority-foreground"):
        check_masks(data)
    assert "allowed by --allow-majority-foreground" in check_masks(data, allow_majority_foreground=True)[0]


def test_check_masks_warns_about_some_empty_masks() -> None:
    assert check_masks(_dataset([0.1, 0.2, 0.3, 0.2])) == []
    warnings = check_masks(_dataset([0, 0.2, 0, 0.1, 0]))
    assert warnings == ["2 of 4 training masks are empty: m0, m2", "1 of 1 test masks is empty: m4"]
    many = check_masks(_dataset([0] * 12 + [0.2, 0.1]))
    assert many[0].startswith("12 of 13 training masks are empty: m0, m1") and "and 2 more" in many[0]


# ---------------------------------------------------------------- layout detection


def _touch(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_detect_release_layout(tmp_path: Path) -> None:
    _touch(tmp_path / "Original", ["1.tif"])
    _touch(tmp_path / "Ground Truth", ["1.tif"])
    name, message = detect_dataset(tmp_path)
    assert name == "cvc-clinicdb" and "Original/ + Ground Truth/" in message and "--dataset" in message


def test_detect_cvc_png_layout_by_its_612_frame_numbers(tmp_path: Path) -> None:
    frames = [f"{i}.png" for i in range(1, 613)]
    _touch(tmp_path / "cvc" / "images", frames)
    _touch(tmp_path / "cvc" / "masks", frames)
    name, message = detect_dataset(tmp_path / "cvc")
    assert name == "cvc-clinicdb" and "612" in message and "--dataset folder" in message
    _touch(tmp_path / "part" / "images", frames[:-1])
    _touch(tmp_path / "part" / "masks", frames[:-1])
    assert detect_dataset(tmp_path / "part")[0] == "folder"


def test_detect_plain_folder(tmp_path: Path) -> None:
    _touch(tmp_path / "images", ["a.png", "b.jpg"])
    _touch(tmp_path / "masks", ["a.png", "b.png"])
    name, message = detect_dataset(tmp_path)
    assert name == "folder" and "images/ + masks/" in message and "--dataset" in message


def test_detect_refuses_unknown_layouts(tmp_path: Path) -> None:
    with pytest.raises(AlsegUsageError, match=r"nope.*does not exist"):
        detect_dataset(tmp_path / "nope")
    (tmp_path / "stuff").mkdir()
    with pytest.raises(AlsegUsageError) as info:
        detect_dataset(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "Original/ + Ground Truth/" in message and "images/ + masks/" in message
    assert "synthetic" not in message


# ---------------------------------------------------------------- cache key


def test_decoder_version_is_in_the_cache_key_not_the_fingerprint(tmp_path: Path, monkeypatch) -> None:
    root = _folder(tmp_path / "d", {str(i): REF.astype(np.uint8) * 255 for i in range(1, 5)})
    first = load_dataset("folder", data_dir=root, image_size=16, cache_dir=tmp_path / "c")
    folder = cache_folder(tmp_path / "c", "folder", 16, first.fingerprint)
    assert folder.name.endswith(f"-d{DECODER_VERSION}") and folder.is_dir()
    assert json.loads((folder / "meta.json").read_text())["decoder"] == DECODER_VERSION
    decoded: list[Path] = []
    real = folder_mod.read_mask

    def counting(path: Path):
        decoded.append(path)
        return real(path)

    monkeypatch.setattr(folder_mod, "read_mask", counting)
    load_dataset("folder", data_dir=root, image_size=16, cache_dir=tmp_path / "c")
    assert not decoded  # same decoder: the cache is used
    monkeypatch.setattr(cache_mod, "DECODER_VERSION", DECODER_VERSION + 1)
    again = load_dataset("folder", data_dir=root, image_size=16, cache_dir=tmp_path / "c")
    assert len(decoded) == 4 and again.fingerprint == first.fingerprint  # rebuilt, fingerprint unchanged
    files = [p for pair in scan_pairs(root / "images", root / "masks") for p in (pair.image, pair.mask)]
    assert fingerprint_files(root, files, 16) == first.fingerprint


# ---------------------------------------------------------------- real data

# sha256 of decode_image / decode_mask output at source size, captured with the decoder of commit 5fef6df (before
# the decoding rules were rewritten), and of the stacked 160 px arrays.
CVC_FRAMES = {
    "1": ("0ebd95732b0806683db0baaf56ec7bed88ef7a7da69d4d7c7659bbe959027898",
          "2ed7e9fabda2a7ba3bb96933d3b397ea7f520d7722c54fe03160d0517e33cdb3"),
    "2": ("11c258b4d95c592cba44c31616dbf0cfc4c61858bd5902cd474de96a15baf09b",
          "31c869231b4432cfc294d9257d9338a1915747529bf3cc8913fcf5febb8f71fd"),
    "14": ("3862c8791c561616f23f15b6ae28cb42d805db16874dfb0ce21b24a1153f987e",
           "6a04d232d324d10fafc805f6a85f8461741f66f3d23e267ca9d57c7b1420d21d"),
    "104": ("1151841c95e871d104225db5caab0e414f685429b37c4d0c86c1ce19cb8214e6",
            "fef2edcc11f860b5f649b04f349eacaa893d96ccca0cf00f6f057b4451563c1c"),
    "125": ("5a1112b4828c68108be8374e48ed4ad72bdb48771f76a222c693a062c0db031b",
            "fa0afc19fcbfec9546f3fbe399e16981e0cf3333fc231b91c93d410f30bf60e3"),
    "389": ("20c3e6566de9d72c59b2f2c5bb840dc8c41583e9efc9717c75ba23384feb1ad4",
            "6368b40381c600cb3ab584eb29ba1390a67e4ed2051b8a1d668d31a89176d1e6"),
    "490": ("849f7fd57593f637ae3852cb0688781ae4513d5c41dcf5e8377cf8f21ae5d876",
            "7b8b7678d87770897202ab9ba8c7d0682cfc4383ad8f15bfc75fe9690ad26c70"),
    "612": ("f9a4ee770a29e246ff50be5e32aec75f3768b63d026fcc21cb8c44c80803a066",
            "a014c35293d37472e5317f8003f8e47c040cac53580c1083435b9bc0b842e1fa"),
}
CVC_160 = ("459cb99ce5bfd73114f8c16a734954b7b3730a96de19a70b4ffa12df65abb18a",
           "b59eaee551e7de3ab0b7f29f90ae3b4436d40437453c7c7ef623557179df3966")


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.mark.realdata
@pytest.mark.skipif(not (CVC / "images").is_dir() or not (CVC / "masks").is_dir(),
                    reason=f"CVC-ClinicDB copy not found at {CVC} (images/ + masks/)")
def test_real_cvc_fingerprint_and_arrays_are_unchanged() -> None:
    for frame, (image_sha, mask_sha) in CVC_FRAMES.items():
        image, _ = read_image(CVC / "images" / f"{frame}.png")
        mask, _ = read_mask(CVC / "masks" / f"{frame}.png")
        assert image.shape == (288, 384, 3) and mask.shape == (288, 384)
        assert (_sha(image), _sha(mask)) == (image_sha, mask_sha), frame
    ds = load_dataset("cvc-clinicdb", data_dir=CVC, image_size=160, cache_dir=None)
    reference = json.loads(REFERENCE.read_text())["protocol"]
    assert reference["image_size"] == 160
    assert ds.fingerprint == reference["data_fingerprint"]
    assert (_sha(ds.images), _sha(ds.masks)) == CVC_160
    assert len(ds.warnings) == 1 and ds.warnings[0].startswith("138 masks held values besides their two levels")


@pytest.mark.realdata
@pytest.mark.skipif(not (KVASIR / "masks").is_dir(), reason=f"Kvasir-SEG copy not found at {KVASIR}")
def test_real_kvasir_masks_decode_as_released() -> None:
    """Kvasir-SEG's JPEG masks (noisy, some with one stray bright pixel at (0, 0)) decode to > 127."""
    names = sorted(p.name for p in (KVASIR / "masks").iterdir())
    strays = 0
    for name in names[:: len(names) // 25]:
        raw = np.asarray(Image.open(KVASIR / "masks" / name))
        mask, notes = read_mask(KVASIR / "masks" / name)
        np.testing.assert_array_equal(mask, raw[..., 0] > 127)
        assert mask.any() and notes and notes[0].key == "mask-jpeg"
        strays += bool(mask[0, 0])
    assert strays >= 1
