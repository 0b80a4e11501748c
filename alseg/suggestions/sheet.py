"""The picture side of suggest: each pick with its predicted mask outlined, as a contact sheet and an HTML page.

Pure numpy/PIL: the outline is the inner boundary of the thresholded prediction (a pixel of the mask with a
background pixel within `width` steps up, down, left or right; outside the image counts as background), drawn
on the original image scaled to fit a square box. The HTML page embeds every picture as base64, so it is one
self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

THUMB_BOX = 224  # longest side of a picture on the sheet, in pixels
OUTLINE_COLOUR = (0, 255, 0)
OUTLINE_WIDTH = 2
THRESHOLD = 0.5  # a pixel is predicted foreground when its probability is above this
MAX_COLUMNS = 5
PAD = 8
LINE_HEIGHT = 14
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)


def fit_size(width: int, height: int, box: int) -> tuple[int, int]:
    """(width, height) scaled so that the longer side is `box` pixels, each side at least 1."""
    if width < 1 or height < 1 or box < 1:
        raise ValueError(f"sizes must be positive, got {width}x{height} in a box of {box}")
    scale = box / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def erode(mask: np.ndarray) -> np.ndarray:
    """One 4-neighbour erosion step: a pixel stays when it and its 4 neighbours are set (outside = unset)."""
    padded = np.pad(mask.astype(bool), 1, constant_values=False)
    return (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])


def outline(mask: np.ndarray, width: int = OUTLINE_WIDTH) -> np.ndarray:
    """The inner boundary of a mask, `width` pixels thick: mask pixels that `width` erosions remove."""
    inner = mask.astype(bool)
    for _ in range(width):
        inner = erode(inner)
    return mask.astype(bool) & ~inner


def resize_probs(probs: np.ndarray, width: int, height: int) -> np.ndarray:
    """A probability map resized to (height, width) with bilinear filtering, as float32."""
    img = Image.fromarray(np.asarray(probs, dtype=np.float32))  # float32 2-D: mode F
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def draw_outline(image: np.ndarray, probs: np.ndarray, width: int = OUTLINE_WIDTH,
                 threshold: float = THRESHOLD) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 image with the outline of `probs > threshold` (probs resized to H x W) drawn."""
    h, w = image.shape[:2]
    mask = resize_probs(probs, w, h) > threshold
    out = np.array(image, dtype=np.uint8, copy=True)
    out[outline(mask, width)] = OUTLINE_COLOUR
    return out


def thumbnail(image: np.ndarray, probs: np.ndarray, box: int = THUMB_BOX) -> np.ndarray:
    """The image scaled to fit `box` with its predicted mask outlined."""
    h, w = image.shape[:2]
    tw, th = fit_size(w, h, box)
    small = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((tw, th), Image.Resampling.BILINEAR))
    return draw_outline(small, probs)


def grid_shape(n: int, max_columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """(rows, columns) of a sheet of n pictures: up to `max_columns` a row."""
    if n < 1:
        raise ValueError(f"a sheet needs at least one picture, got {n}")
    cols = min(n, max_columns)
    return math.ceil(n / cols), cols


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """The text, cut with '...' so that it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def contact_sheet(tiles: Sequence[np.ndarray], captions: Sequence[Sequence[str]], box: int = THUMB_BOX) -> Image.Image:
    """One RGB image: the pictures in rank order, row by row, each centred in its cell above its caption lines."""
    rows, cols = grid_shape(len(tiles))
    lines = max((len(c) for c in captions), default=0)
    cell_w, cell_h = box + 2 * PAD, box + 2 * PAD + lines * LINE_HEIGHT
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k, (tile, caption) in enumerate(zip(tiles, captions, strict=True)):
        x0, y0 = (k % cols) * cell_w, (k // cols) * cell_h
        th, tw = tile.shape[:2]
        sheet.paste(Image.fromarray(tile), (x0 + PAD + (box - tw) // 2, y0 + PAD + (box - th) // 2))
        for j, text in enumerate(caption):
            draw.text((x0 + PAD, y0 + PAD + box + 2 + j * LINE_HEIGHT), _fit_text(draw, text, font, box),
                      fill=TEXT_COLOUR, font=font)
    return sheet


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    """PNG bytes of an image."""
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def html_page(title: str, paragraphs: Sequence[str], tiles: Sequence[np.ndarray],
              captions: Sequence[Sequence[str]]) -> str:
    """A self-contained HTML page: title, paragraphs, then each picture (base64 PNG) with its caption lines."""
    figures = []
    for tile, caption in zip(tiles, captions, strict=True):
        data = base64.b64encode(png_bytes(tile)).decode("ascii")
        alt = html.escape(caption[0] if caption else "")
        text = "<br>".join(html.escape(line) for line in caption)
        figures.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}"><figcaption>{text}'
                       "</figcaption></figure>")
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    style = ("body{font-family:sans-serif;margin:24px}.grid{display:flex;flex-wrap:wrap;gap:16px}"
             f"figure{{margin:0;width:{THUMB_BOX}px}}figcaption{{font-size:13px;word-break:break-all}}"
             "img{max-width:100%;display:block}")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{body}\n"
            f'<div class="grid">\n' + "\n".join(figures) + "\n</div></body></html>\n")
