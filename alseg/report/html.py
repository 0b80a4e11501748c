"""report.html: one self-contained page of a report (tables, figures and the selection gallery), every string escaped.

The page needs nothing beside itself: figures are PNG data URIs, each gallery thumbnail is one JPEG data URI
embedded once and shared by every place it appears. It holds no timestamp, so the same run files and data give
the same bytes. `alseg report --html` and the end of `alseg bench` write it.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.table import Table as RichTable

from alseg.errors import AlsegUsageError
from alseg.report import gallery as gal
from alseg.report.bundle import compute_report
from alseg.report.compute import METRICS, with_regime
from alseg.report.documents import flatten_protocol, leaderboard_csv
from alseg.report.format import Cell
from alseg.report.load import Experiments, extra_test_names, load_experiments, write_extra_test_reports
from alseg.report.tables import Leaderboard, Table, build_leaderboard
from alseg.report.terminal import terminal_table
from alseg.report.write import CAPTIONS, ReportFiles, atomic_write, write_files

if TYPE_CHECKING:  # the dataset layer loads only when a gallery is drawn
    from alseg.datasets.base import SegDataset

HTML_NAME = "report.html"
GALLERY_COLUMNS = 3  # thumbnails per row in one strategy's cell
GALLERY_GAP = 3  # pixels between thumbnails

STYLE = string.Template("""
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
table.data { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
table.data th, table.data td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right;
  white-space: nowrap; }
table.data th:first-child, table.data td:first-child { text-align: left; }
table.data thead th { background: #f3f3f3; }
.note { background: #fff6d6; border: 1px solid #e0c060; padding: 0.5rem 0.8rem; max-width: 60rem; }
.legend, .sub { color: #555; font-size: 0.85rem; max-width: 70rem; }
figure.plot { display: inline-block; margin: 0 1rem 1rem 0; }
figure.plot img { max-width: 100%; height: auto; border: 1px solid #eee; }
.scroll { overflow-x: auto; }
table.gallery { border-collapse: collapse; }
table.gallery th, table.gallery td { border: 1px solid #ccc; padding: 0.3rem; vertical-align: top; }
table.gallery td, table.gallery thead th:not(:first-child) { width: ${cell}px; }
table.gallery thead th { background: #f3f3f3; font-size: 0.85rem; }
table.gallery tbody th { text-align: left; font-size: 0.85rem; white-space: nowrap; }
.cell-head { font-size: 0.8rem; font-weight: 600; } .cell-score { font-size: 0.75rem; color: #555; }
.thumbs { display: grid; grid-template-columns: repeat(${columns}, ${thumb}px); gap: ${gap}px; margin-top: 0.2rem; }
figure.thumb { margin: 0; width: ${thumb}px; }
figure.thumb img { display: block; width: ${thumb}px; height: ${thumb}px; background: #ddd; }
figure.thumb figcaption { font-size: 0.65rem; color: #444; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
""").substitute(
    thumb=gal.THUMB_SIZE, gap=GALLERY_GAP, columns=GALLERY_COLUMNS,
    cell=GALLERY_COLUMNS * gal.THUMB_SIZE + (GALLERY_COLUMNS - 1) * GALLERY_GAP)

SCRIPT = """
(function () {
  var select = document.getElementById("gallery-seed");
  if (!select) { return; }
  function show(seed) {
    document.querySelectorAll(".gallery-seed").forEach(function (part) {
      var on = part.getAttribute("data-seed") === seed;
      part.hidden = !on;
      if (!on) { return; }
      part.querySelectorAll("img[data-thumb]").forEach(function (img) {
        if (!img.getAttribute("src")) {
          img.src = document.getElementById("thumb-" + img.getAttribute("data-thumb")).src;
        }
      });
    });
  }
  select.addEventListener("change", function () { show(select.value); });
  show(select.value);
})();
"""


def esc(value: object) -> str:
    """Any value as HTML text or attribute content (html.escape, quotes included)."""
    return html.escape(str(value), quote=True)


def _cell(cell: Cell | str, tag: str) -> str:
    """One table cell; the best value of its column in bold."""
    c = cell if isinstance(cell, Cell) else Cell(str(cell))
    body = f"<strong>{esc(c.text)}</strong>" if c.best else esc(c.text)
    return f"<{tag}>{body}</{tag}>"


def table_html(table: Table | tuple[Sequence[str], Sequence[Sequence[Cell | str]]], table_id: str = "") -> str:
    """A report table (headers and Cell rows) as an HTML table ('' for a table without columns)."""
    headers, rows = table
    if not headers:
        return ""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c, "td") for c in row) + "</tr>\n" for row in rows)
    return f'<table class="data"{ident}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n'


def csv_table_html(text: str, table_id: str) -> str:
    """CSV text as an HTML table, every value exactly as the CSV spells it."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return ""
    return table_html((rows[0], rows[1:]), table_id)


def figure_html(caption: str, png: bytes) -> str:
    """One figure: the PNG as a data URI, with its caption."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (f'<figure class="plot"><img src="{uri}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>\n")


def protocol_html(protocol: Mapping[str, object]) -> str:
    """The protocol settings as a list of name: value."""

    def show(v: object) -> str:
        return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    items = "".join(f"<li><code>{esc(k)}</code>: {esc(show(v))}</li>\n"
                    for k, v in flatten_protocol(protocol).items())
    return f"<ul>\n{items}</ul>\n"


def note_html(text: str) -> str:
    """A visible note (why something is left out)."""
    return f'<p class="note">{esc(text)}</p>\n'


# --- the gallery -----------------------------------------------------------------------------------------


def _pick_cell(pick: gal.Pick | None, label: str, index: Mapping[str, int]) -> str:
    """One strategy's picks of one round: a heading, the score it has, the outlined thumbnails."""
    if pick is None:
        return f'<td><div class="cell-head">{esc(label)}</div><div class="cell-score">no finished run</div></td>'
    score = ("mean entropy of the picks " + f"{pick.picked_entropy:.4f}" if pick.picked_entropy is not None
             else "no score stored")
    n = len(pick.ids)
    thumbs = "".join(
        f'<figure class="thumb"><img data-thumb="{index[i]}" width="{gal.THUMB_SIZE}" height="{gal.THUMB_SIZE}" '
        f'alt="{esc(i)}" title="{esc(f"{i}: pick {k} of {n}")}"><figcaption>{esc(i)}</figcaption></figure>'
        for k, i in enumerate(pick.ids, start=1))
    return (f'<td><div class="cell-head">{esc(label)} · {n} picked</div>'
            f'<div class="cell-score">{esc(score)}</div><div class="thumbs">{thumbs}</div></td>')


def _seed_html(seed: int, picks: Sequence[gal.Pick], order: Sequence[str], labels: Mapping[str, str],
               index: Mapping[str, int], shown: bool) -> str:
    """The gallery of one seed: one row per selection round, one column per strategy."""
    by = {(p.round, p.strategy): p for p in picks}
    rounds = sorted({p.round for p in picks})
    names = [s for s in order if any(p.strategy == s for p in picks)]
    head = "<th>Selection</th>" + "".join(f"<th>{esc(labels.get(s, s))}</th>" for s in names)
    rows = []
    for r in rounds:
        trained = sorted({p.n_labeled for p in picks if p.round == r})
        sub = f"model of {', '.join(map(str, trained))} labels"
        cells = "".join(_pick_cell(by.get((r, s)), labels.get(s, s), index) for s in names)
        rows.append(f'<tr><th scope="row">round {r}<div class="sub">{esc(sub)}</div></th>{cells}</tr>\n')
    hidden = "" if shown else " hidden"
    return (f'<div class="gallery-seed" data-seed="{seed}"{hidden}><div class="scroll">'
            f'<table class="gallery"><thead><tr>{head}</tr></thead>\n<tbody>\n{"".join(rows)}</tbody></table>'
            "</div></div>\n")


def gallery_html(picks: Sequence[gal.Pick], data: SegDataset, order: Sequence[str],
                 labels: Mapping[str, str]) -> str:
    """The gallery section's body: a seed selector, each seed's picks side by side, each thumbnail once."""
    if not picks:
        return note_html("No round of these runs selected any image, so there is no gallery.")
    index = gal.check_ids(data, picks)
    store = "".join(
        f'<img id="thumb-{k}" src="{gal.jpeg_data_uri(gal.outlined_thumbnail(data.images[k], data.masks[k]))}" '
        f'alt="{esc(data.ids[k])}" width="{gal.THUMB_SIZE}" height="{gal.THUMB_SIZE}">\n'
        for k in sorted(set(index.values())))
    seeds = sorted({p.seed for p in picks})
    options = "".join(f'<option value="{s}"{" selected" if s == seeds[0] else ""}>{s}</option>' for s in seeds)
    parts = [_seed_html(s, [p for p in picks if p.seed == s], order, labels, index, s == seeds[0]) for s in seeds]
    intro = (
        "Each column is a strategy, each row a selection round: the images that round's model picked for labeling"
        " in the next round, in the order the strategy returned them (score-ranked strategies: highest first),"
        " with the ground-truth mask outlined in green. The score shown is the round record's picked_entropy, the"
        " mean predictive entropy of the picked images; the run files store no per-image score."
    )
    return (f'<p class="legend">{esc(intro)}</p>\n'
            f'<p><label>Seed <select id="gallery-seed">{options}</select></label></p>\n'
            '<noscript><p class="note noscript">The gallery needs JavaScript to place its thumbnails.</p></noscript>\n'
            + "".join(parts)
            + f'<div id="thumb-store" hidden>\n{store}</div>\n')


def gallery_section(rounds: pd.DataFrame, board: Leaderboard, data: SegDataset | None, reason: str) -> str:
    """The gallery, or a note saying why it is left out (no data, unreadable or different data)."""
    if data is None:
        return note_html(f"Gallery left out: {reason}")
    labels = dict(zip(board.data.curves["strategy"], board.data.curves["label"], strict=True))
    picks = gal.collect_picks(rounds, board.data.order)
    try:
        return gallery_html(picks, data, board.data.order, labels)
    except gal.DataUnavailable as err:
        return note_html(f"Gallery left out: {err}")


# --- the page --------------------------------------------------------------------------------------------


def page_html(board: Leaderboard, title: str, protocol: Mapping[str, object] | None,
              figures: Sequence[tuple[str, bytes]], gallery: str) -> str:
    """The whole page: leaderboard, figures, every other table, leaderboard.csv's numbers, gallery, protocol."""
    data = board.data
    sections: list[tuple[str, str, str]] = []
    lead = table_html(board.main, "leaderboard") + f'<p class="legend">{esc(board.legend)}</p>\n'
    if board.verdicts:
        head = with_regime(f"Verdicts against Random on {METRICS[data.metric].label} AUBC", board.regime)
        lead += f"<h3>{esc(head)}</h3>\n<ul>\n" + "".join(f"<li>{esc(v)}</li>\n" for v in board.verdicts) + "</ul>\n"
    if board.failed:
        lead += note_html("Runs left out of the numbers (failed, interrupted or still running): "
                          + "; ".join(board.failed))
    sections.append(("leaderboard", "Leaderboard", lead))
    if figures:
        sections.append(("figures", "Figures", "".join(figure_html(c, png) for c, png in figures)))
    for m, table in board.metrics.items():
        sections.append((f"by-labels-{m}", f"{METRICS[m].label} by labeled images", table_html(table, f"table-{m}")))
    sections.append(("times", "Time per round", table_html(board.times, "times")
                     + '<p class="legend">Pool pass and selection are averaged over rounds that ended in a'
                       " selection.</p>\n"))
    if board.variants[1]:
        sections.append(("variants", "Variants against their base strategy", table_html(board.variants, "variants")))
    if len(data.penalty) > 1:
        sections.append(("penalty", "Pairwise penalty matrix", table_html(board.penalty, "penalty")))
    if len(data.overlap):
        sections.append(("overlap", "Overlap of selections", table_html(board.overlap, "overlap")))
    if len(data.picked):
        sections.append(("picked", "Predictive entropy of picked images", table_html(board.picked, "picked")))
    sections.append(("curves", "Every number of leaderboard.csv",
                     '<p class="legend">Mean and std over seeds per strategy and labeled count, as in'
                     " leaderboard.csv.</p>\n" + csv_table_html(leaderboard_csv(board), "leaderboard-csv")))
    sections.append(("gallery", "What each strategy picked", gallery))
    if protocol:
        sections.append(("protocol", "Protocol", protocol_html(protocol)))
    nav = " · ".join(f'<a href="#{esc(i)}">{esc(h)}</a>' for i, h, _ in sections)
    schedule = f" · labels: {board.regime}" if board.regime else ""
    subtitle = f"Dataset: {data.dataset} · strategies: {len(data.order)}{schedule}" if data.dataset else ""
    titled = {"gallery", "protocol", "figures", "curves"}  # headings without the label schedule, as in leaderboard.md
    body = "".join(f'<section id="{esc(i)}">\n<h2>{esc(h if i in titled else with_regime(h, board.regime))}</h2>\n'
                   f"{b}</section>\n" for i, h, b in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{esc(title)}</h1>\n<p class=\"sub\">{esc(subtitle)}</p>\n<nav>{nav}</nav>\n{body}"
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")


def write_html(board: Leaderboard, files: ReportFiles, rounds: pd.DataFrame, out_dir: Path, title: str,
               protocol: Mapping[str, object] | None, data: SegDataset | None, reason: str = "") -> Path:
    """Write report.html beside the other report files (figures read back from what write_files wrote)."""
    figures = [(CAPTIONS.get(p.name, p.stem), p.read_bytes()) for p in files.figures]
    page = page_html(board, title, protocol, figures, gallery_section(rounds, board, data, reason))
    return atomic_write(Path(out_dir) / HTML_NAME, page)


def check_data_dir(data_dir: Path | None) -> None:
    """--data-dir must name an existing folder (a usage error otherwise: it was asked for explicitly)."""
    if data_dir is not None and not Path(data_dir).is_dir():
        raise AlsegUsageError(f"--data-dir {data_dir} is not a folder: pass the dataset folder the experiment ran "
                              "on (its config.toml's data-dir), or drop --data-dir to use that one")


def experiment_data(exps: Experiments, roots: Sequence[Path], data_dir: Path | None) -> tuple[SegDataset | None, str]:
    """The experiments' data for the gallery, or None and the reason it cannot be shown."""
    if data_dir is not None and exps.protocol.get("dataset") == "synthetic":
        raise AlsegUsageError("--data-dir: the experiment's dataset is synthetic (generated from its seed, no "
                              "folder); drop --data-dir")
    try:
        return gal.find_data(roots, exps.protocol, data_dir), ""
    except gal.DataUnavailable as err:
        return None, str(err)


def report_experiments_html(roots: Sequence[Path], out_dir: Path, data_dir: Path | None = None,
                            data: SegDataset | None = None) -> tuple[list[Path], list[RichTable]]:
    """Like report_experiments, plus report.html; `data` (bench) is the loaded dataset, else it is found again."""
    check_data_dir(data_dir)
    exps = load_experiments(roots)
    board = build_leaderboard(compute_report(exps.rounds, exps.runs), exps.protocol)
    reason = ""
    if data is None:
        data, reason = experiment_data(exps, roots, data_dir)
    files = write_files(board, Path(out_dir), title=exps.title, protocol=exps.protocol,
                        extra_tests=extra_test_names(exps.rounds))
    page = write_html(board, files, exps.rounds, Path(out_dir), exps.title, exps.protocol, data, reason)
    extra_files, extra_tables = write_extra_test_reports(exps, Path(out_dir))
    return [*files.all(), page, *extra_files], [terminal_table(board), *extra_tables]
