"""report.html: the gallery's image functions on hand-made arrays, the page from `alseg bench` / `alseg report --html`
(every number of leaderboard.csv, the picks of every run, a note instead of the gallery when the data is gone), and
the page in headless Chromium (no console error, every image decodes, the tables hold leaderboard.csv)."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_ARGS
from PIL import Image
from typer.testing import CliRunner

from alseg.cli import app
from alseg.report import gallery as gal
from alseg.report.format import Cell
from alseg.report.html import HTML_NAME, esc, table_html

ENV = {"COLUMNS": "250", "ALSEG_DEBUG": None}
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "cvc-clinicdb-cpu"
CVC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cvc-clinicdb"


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


# --- image functions, known answers ----------------------------------------------------------------------


def test_area_weights_average_blocks_when_shrinking_and_repeat_pixels_when_enlarging() -> None:
    assert np.allclose(gal.area_weights(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    assert np.allclose(gal.area_weights(2, 4), [[1, 0], [1, 0], [0, 1], [0, 1]])
    assert np.allclose(gal.area_weights(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])
    assert np.allclose(gal.area_weights(160, 96).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="positive sizes"):
        gal.area_weights(0, 2)


def test_thumbnail_of_hand_made_images() -> None:
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[:2, :2] = (10, 20, 30)
    image[:2, 2:] = (0, 0, 255)
    image[2:, :2, 0] = [[0, 1], [1, 1]]  # mean 0.75 rounds to 1
    image[2:, 2:] = 200
    small = gal.thumbnail(image, 2)
    assert small.dtype == np.uint8 and small.shape == (2, 2, 3)
    assert small.tolist() == [[[10, 20, 30], [0, 0, 255]], [[1, 0, 0], [200, 200, 200]]]
    big = gal.thumbnail(np.array([[[0, 0, 0], [90, 90, 90]]], dtype=np.uint8).repeat(2, axis=0), 4)
    assert big[..., 0].tolist() == [[0, 0, 90, 90]] * 4


def test_thumbnail_mask_keeps_pixels_at_least_half_covered() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2, :2] = True  # a full block
    mask[0, 2:] = True  # half a block
    mask[3, 3] = True  # a quarter
    assert gal.thumbnail_mask(mask, 2).tolist() == [[True, True], [False, False]]


def test_outline_of_a_square_is_its_ring() -> None:
    mask = np.zeros((7, 7), dtype=bool)
    mask[1:6, 1:6] = True
    ring = mask.copy()
    ring[2:5, 2:5] = False
    assert np.array_equal(gal.outline(mask), ring) and gal.outline(mask).sum() == 16
    thick = gal.outline(mask, width=2)
    assert thick.sum() == 24 and not thick[3, 3] and thick[2, 2]
    assert not gal.outline(np.zeros((5, 5), dtype=bool)).any()
    assert gal.outline(np.ones((3, 3), dtype=bool)).sum() == 8  # outside the image counts as background
    dot = np.zeros((3, 3), dtype=bool)
    dot[1, 1] = True
    assert np.array_equal(gal.outline(dot), dot)
    with pytest.raises(ValueError, match="at least 1"):
        gal.outline(mask, width=0)


def test_draw_outline_paints_only_the_outline_and_leaves_the_input() -> None:
    image = np.full((5, 5, 3), 7, dtype=np.uint8)
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:4, 1:4] = True
    out = gal.draw_outline(image, mask, color=(1, 2, 3))
    painted = (out == (1, 2, 3)).all(axis=2)
    assert painted.sum() == 8 and not painted[2, 2] and not painted[0, 0]
    assert (image == 7).all()
    with pytest.raises(ValueError, match="differ in size"):
        gal.draw_outline(image, mask[:4])


def test_outlined_thumbnail_and_its_jpeg_round_trip() -> None:
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:24, 8:24] = True
    thumb = gal.outlined_thumbnail(image, mask, size=96)
    assert thumb.shape == (96, 96, 3)
    assert tuple(thumb[24, 48]) == gal.OUTLINE_COLOR and tuple(thumb[48, 48]) == (100, 100, 100)
    uri = gal.jpeg_data_uri(thumb)
    assert uri.startswith("data:image/jpeg;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert back.shape == (96, 96, 3) and abs(int(back[48, 48, 0]) - 100) <= 3 and back[24, 48, 1] > 200


# --- picks and paths -------------------------------------------------------------------------------------


def test_collect_picks_orders_by_seed_round_strategy_and_skips_empty_and_ceiling() -> None:
    rows = pd.DataFrame([
        {"strategy": "entropy", "seed": 0, "round": 0, "n_labeled": 6, "selected": ["b", "a"],
         "picked_entropy": 0.5, "status": "done"},
        {"strategy": "random", "seed": 0, "round": 0, "n_labeled": 6, "selected": ["c"],
         "picked_entropy": float("nan"), "status": "done"},
        {"strategy": "random", "seed": 0, "round": 1, "n_labeled": 10, "selected": [], "picked_entropy": None,
         "status": "done"},
        {"strategy": "full", "seed": 0, "round": 0, "n_labeled": 99, "selected": [], "picked_entropy": None,
         "status": "done"},
        {"strategy": "random", "seed": 1, "round": 0, "n_labeled": 6, "selected": ["d"], "picked_entropy": 0.25,
         "status": "done"},
    ])
    picks = gal.collect_picks(rows, ["random", "entropy"])
    assert [(p.seed, p.round, p.strategy, p.ids, p.picked_entropy) for p in picks] == [
        (0, 0, "random", ("c",), None), (0, 0, "entropy", ("b", "a"), 0.5), (1, 0, "random", ("d",), 0.25)]


def test_search_bases_are_the_cwd_then_the_repo_root(tmp_path: Path) -> None:
    exp = tmp_path / "repo" / "results" / "exp"
    exp.mkdir(parents=True)
    assert gal.search_bases(exp, {"out": "results"}, tmp_path) == [tmp_path, tmp_path / "repo"]
    assert gal.search_bases(exp, {"out": "elsewhere"}, tmp_path) == [tmp_path]  # moved: no out-based root
    (tmp_path / "repo" / "pyproject.toml").write_text("")
    assert gal.search_bases(exp, {}, tmp_path) == [tmp_path, tmp_path / "repo"]
    (tmp_path / "repo" / "data").mkdir()
    assert gal.find_relative("data", [tmp_path, tmp_path / "repo"]) == (tmp_path / "repo" / "data", tmp_path / "repo")
    assert gal.find_relative("nope", [tmp_path]) is None


def test_every_string_is_escaped() -> None:
    assert esc('<b a="1">&') == "&lt;b a=&quot;1&quot;&gt;&amp;"
    page = table_html((["<h>"], [[Cell("<script>x</script>", best=True)], ["a&b"]]), "t")
    assert "<script>" not in page and "<strong>&lt;script&gt;x&lt;/script&gt;</strong>" in page
    assert "<td>a&amp;b</td>" in page and table_html(([], [])) == ""


# --- reading the page back -------------------------------------------------------------------------------


class Page(HTMLParser):
    """The tables (by id, as rows of cell texts), the images and the seed options of a report.html."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[dict[str, str]] = []
        self.seeds: list[dict[str, list[dict[str, str]]]] = []  # per .gallery-seed: its imgs
        self.options: list[str] = []
        self.notes: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._note: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "img":
            self.images.append(a)
            if "data-thumb" in a:
                self.seeds[-1]["imgs"].append(a)
        elif tag == "div" and "gallery-seed" in a.get("class", ""):
            self.seeds.append({"seed": a["data-seed"], "hidden": "hidden" in a, "imgs": []})
        elif tag == "option":
            self.options.append(a["value"])
        elif tag == "p" and a.get("class") == "note":
            self._note = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "p" and self._note is not None:
            self.notes.append("".join(self._note))
            self._note = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._note):
            if part is not None:
                part.append(data)


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def md_table(path: Path, heading: str) -> list[list[str]]:
    """The first Markdown table after a heading, bold marks removed, as rows of cell texts."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append([c.strip().replace("**", "").replace("\\|", "|") for c in line.strip("|").split(" | ")])
        elif rows:
            break
    return [rows[0], *rows[2:]]  # without the alignment row


def picks_of(exp: Path) -> dict[int, int]:
    """Number of picked images per seed, read straight from the run files."""
    out: dict[int, int] = {}
    for path in (exp / "runs").glob("*/seed-*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            out[rec["seed"]] = out.get(rec["seed"], 0) + len(rec["selected"])
    return out


# --- the page of a finished tiny benchmark ---------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_exp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny synthetic benchmark (random and entropy, two seeds) whose end wrote report.html."""
    root = tmp_path_factory.mktemp("html")
    result = invoke("bench", *TINY_ARGS, "--out", root / "results", "--cache-dir", root / "cache", "--name", "syn",
                    "--strategies", "random,entropy", "--seeds", "2")
    assert result.exit_code == 0, result.output
    return root / "results" / "syn"


@pytest.mark.slow
def test_bench_writes_a_page_with_every_number_of_leaderboard_csv(synthetic_exp: Path) -> None:
    page = Page((synthetic_exp / HTML_NAME).read_text())
    assert page.tables["leaderboard-csv"] == csv_rows(synthetic_exp / "leaderboard.csv")
    assert page.tables["leaderboard"] == md_table(synthetic_exp / "leaderboard.md", "## Leaderboard")
    figures = [i for i in page.images if i.get("src", "").startswith("data:image/png;base64,")]
    assert len(figures) == len(list(synthetic_exp.glob("*.png"))) > 0
    assert not page.notes


@pytest.mark.slow
def test_gallery_shows_every_pick_of_every_seed_with_each_thumbnail_once(synthetic_exp: Path) -> None:
    page = Page((synthetic_exp / HTML_NAME).read_text())
    assert page.options == ["0", "1"]
    assert [(s["seed"], s["hidden"]) for s in page.seeds] == [("0", False), ("1", True)]
    assert {int(s["seed"]): len(s["imgs"]) for s in page.seeds} == picks_of(synthetic_exp)
    store = [i for i in page.images if i.get("id", "").startswith("thumb-")]
    used = {i["data-thumb"] for s in page.seeds for i in s["imgs"]}
    assert sorted(i["id"] for i in store) == sorted(f"thumb-{k}" for k in used)
    assert all(i["src"].startswith("data:image/jpeg;base64,") for i in store)
    first = json.loads((synthetic_exp / "runs" / "entropy" / "seed-0.jsonl").read_text().splitlines()[0])
    shown = [i["alt"] for i in page.seeds[0]["imgs"]]
    assert first["selected"] and " ".join(first["selected"]) in " ".join(shown)  # in the stored order


@pytest.mark.slow
def test_report_html_rebuilds_the_bench_page_byte_for_byte(synthetic_exp: Path, tmp_path: Path) -> None:
    result = invoke("report", synthetic_exp, "--html", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert HTML_NAME in result.output
    assert (tmp_path / HTML_NAME).read_bytes() == (synthetic_exp / HTML_NAME).read_bytes()


@pytest.mark.slow
def test_plain_report_writes_no_html(synthetic_exp: Path, tmp_path: Path) -> None:
    result = invoke("report", synthetic_exp, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "leaderboard.md").is_file() and not (tmp_path / HTML_NAME).exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["no-html", "missing", "synthetic"])
def test_bad_data_dir_exits_2_naming_the_option(synthetic_exp: Path, tmp_path: Path, case: str) -> None:
    args = {"no-html": ["--data-dir", tmp_path], "missing": ["--html", "--data-dir", tmp_path / "nope"],
            "synthetic": ["--html", "--data-dir", tmp_path]}[case]
    result = invoke("report", synthetic_exp, "--out", tmp_path / "out", *args)
    assert result.exit_code == 2, result.output
    assert "--data-dir" in result.output and "Traceback" not in result.output
    assert {"no-html": "add --html", "missing": "is not a folder", "synthetic": "synthetic"}[case] in result.output
    assert not (tmp_path / "out" / HTML_NAME).exists()


# --- a folder dataset: found again through config.toml, or a note saying why not -------------------------


def make_folder(root: Path, n: int = 14, size: int = 32) -> Path:
    """images/ + masks/ with n PNG pairs (random pixels, a square polyp moving down)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[4 + i : 16 + i, 6:20] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder_exp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny benchmark on a folder dataset, run from its project folder with relative --data-dir and --out."""
    project = tmp_path_factory.mktemp("project")
    make_folder(project / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        result = invoke("bench", *TINY_ARGS, "--dataset", "folder", "--data-dir", "data", "--out", "results",
                        "--cache-dir", "cache", "--name", "fold", "--strategies", "random")
    assert result.exit_code == 0, result.output
    return project / "results" / "fold"


def report_page(exp: Path, out: Path, *extra: object) -> Page:
    result = invoke("report", exp, "--html", "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return Page((out / HTML_NAME).read_text())


@pytest.mark.slow
def test_relative_data_dir_is_found_from_another_cwd_through_the_repo_root(
    folder_exp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page = report_page(folder_exp, tmp_path / "out")
    assert not page.notes and sum(len(s["imgs"]) for s in page.seeds) == sum(picks_of(folder_exp).values()) > 0
    assert page.tables["leaderboard-csv"] == csv_rows(folder_exp / "leaderboard.csv")


@pytest.mark.slow
def test_absent_or_changed_data_leaves_a_note_instead_of_the_gallery(
    folder_exp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = tmp_path / "moved" / "fold"
    shutil.copytree(folder_exp, moved)  # away from its project folder: data-dir 'data' resolves nowhere
    monkeypatch.chdir(tmp_path)
    page = report_page(moved, tmp_path / "out1")
    assert not page.seeds and len(page.notes) == 1
    note = page.notes[0]
    assert "Gallery left out" in note and "data-dir = 'data'" in note and "pass --data-dir" in note
    assert page.tables["leaderboard-csv"] == csv_rows(folder_exp / "leaderboard.csv")

    page = report_page(moved, tmp_path / "out2", "--data-dir", folder_exp.parents[1] / "data")
    assert not page.notes and page.seeds

    changed = tmp_path / "changed"
    shutil.copytree(folder_exp.parents[1] / "data", changed)
    first = sorted((changed / "images").iterdir())[0]
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(first)
    page = report_page(moved, tmp_path / "out3", "--data-dir", changed)
    assert not page.seeds and "is not the data this experiment ran on" in page.notes[0]

    (moved / "config.toml").write_text("[bench\n")
    page = report_page(moved, tmp_path / "out4")
    assert not page.seeds and "cannot read" in page.notes[0] and "config.toml" in page.notes[0]
    (moved / "config.toml").unlink()
    page = report_page(moved, tmp_path / "out5")
    assert not page.seeds and "config.toml does not exist" in page.notes[0]


# --- the committed reference experiment on the real data -------------------------------------------------


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not (CVC / "images").is_dir(), reason=f"CVC-ClinicDB copy not found at {CVC}")
def test_reference_gallery_on_cvc_clinicdb(tmp_path: Path) -> None:
    copy = tmp_path / REFERENCE.name
    shutil.copytree(REFERENCE, copy, ignore=shutil.ignore_patterns("*.png", "*.md", "*.csv", "*.tex"))
    page = report_page(copy, tmp_path / "out", "--data-dir", CVC)
    assert not page.notes
    assert {int(s["seed"]): len(s["imgs"]) for s in page.seeds} == picks_of(REFERENCE)
    assert page.tables["leaderboard-csv"] == csv_rows(REFERENCE / "leaderboard.csv")


# --- in a real browser -----------------------------------------------------------------------------------


def chrome_or_skip():
    """A headless Chromium driven by Selenium through Debian's chromedriver, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("no chromium/chromedriver on PATH: apt-get install chromium chromium-driver (Debian)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.mark.slow
def test_page_in_headless_chromium(synthetic_exp: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    chrome = chrome_or_skip()
    try:
        chrome.get((synthetic_exp / HTML_NAME).as_uri())
        assert chrome.execute_script("return document.readyState") == "complete"
        picks = picks_of(synthetic_exp)
        seed_select = Select(chrome.find_element(By.ID, "gallery-seed"))
        for value in ["1", "0"]:
            seed_select.select_by_value(value)
            shown = chrome.execute_script(
                "return Array.from(document.querySelectorAll('.gallery-seed'))"
                ".filter(s => !s.hidden).map(s => [s.dataset.seed, s.querySelectorAll('img').length])")
            assert shown == [[value, picks[int(value)]]]
        images = chrome.execute_script(
            "return Array.from(document.images).map(i => [i.id || i.alt, i.complete, i.naturalWidth])")
        assert len(images) > sum(picks.values())
        assert [i for i in images if not (i[1] and i[2] > 0)] == []
        cells = chrome.execute_script(
            "return Array.from(document.querySelectorAll('#leaderboard-csv tr'))"
            ".map(r => Array.from(r.cells).map(c => c.textContent))")
        assert cells == csv_rows(synthetic_exp / "leaderboard.csv")
        errors = [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        chrome.quit()

