"""The docs' marked code blocks run, and the docs name every column, option and setting they describe.

How a page marks a block: an HTML comment on the line right before a fenced code block (invisible on GitHub).

    <!-- test: file PATH -->   the block's text is written to PATH (relative) in a temporary folder
    <!-- test: run -->         the block is Python, executed in page order in one namespace, in that folder
                               (the working directory and first on sys.path), after every file block is written

A marker not directly followed by a fenced block, or a kind other than `file` and `run`, is an error naming the
page and line, so a marker can never silently do nothing. docs/README.md lists every executed block and its test.

Besides running docs/writing-a-strategy.md's plugin (written to tmp, registered by its entry point without pip;
a slow test also pip-installs it into a target folder), these tests check that docs/reading-the-leaderboard.md
explains every column of the committed reference report, that docs/protocol.md classifies every option as
protocol or not as the code does, that docs/suggest.md names every option of `alseg suggest`, and that the README
and docs/getting-started.md quote what the code prints.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY
from test_api import alseg_imports
from test_python_api import readme_example

import alseg.python_api as python_api
from alseg.config import OPTION_NAMES, PROTOCOL_FIELDS, resolve_config, tomllib
from alseg.strategies.registry import DISABLE_ENV, check_strategy_class

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "writing-a-strategy.md"
LEADERBOARD_DOC = DOCS / "reading-the-leaderboard.md"
REFERENCE = ROOT / "results" / "cvc-clinicdb-cpu"
KINDS = ("file", "run")
_MARKER = re.compile(r"^<!-- test: (?P<kind>\S+)(?: (?P<arg>\S+))? -->\s*$")


class DocBlockError(ValueError):
    """A marked block that cannot be used: the message names the page, the line and the fix."""


@dataclass(frozen=True)
class Block:
    """One marked fenced block: its marker kind and argument, the fence's language tag, the code, the marker line."""

    kind: str
    arg: str | None
    lang: str
    code: str
    line: int


def marked_blocks(text: str, page: str = "<text>") -> list[Block]:
    """Every block marked with `<!-- test: KIND [ARG] -->` in a Markdown text, in order."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if not line.startswith("<!-- test:"):
            continue
        where = f"{page}:{i + 1}"
        match = _MARKER.match(line)
        if match is None or match["kind"] not in KINDS:
            raise DocBlockError(f"{where}: malformed marker {line.strip()!r}; write <!-- test: run --> or "
                                "<!-- test: file PATH -->")
        if (match["kind"] == "file") != (match["arg"] is not None):
            raise DocBlockError(f"{where}: 'file' takes a PATH and 'run' takes none, got {line.strip()!r}")
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            raise DocBlockError(f"{where}: the marker must be directly followed by a fenced code block")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise DocBlockError(f"{where}: the code block after the marker is never closed")
        code = "\n".join(lines[i + 2:end]) + "\n"
        blocks.append(Block(match["kind"], match["arg"], lines[i + 1][3:].strip(), code, i + 1))
    return blocks


def write_file_blocks(blocks: list[Block], root: Path) -> list[Path]:
    """Write each `file` block under root; returns the paths written."""
    written = []
    for block in blocks:
        if block.kind == "file":
            if Path(block.arg).is_absolute() or ".." in Path(block.arg).parts:
                raise DocBlockError(f"line {block.line}: file path {block.arg!r} must stay inside the folder")
            path = root / block.arg
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.code)
            written.append(path)
    return written


def run_blocks(blocks: list[Block], page: Path) -> dict:
    """Execute each `run` block in order in one namespace (tracebacks point at page:line); returns the namespace."""
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for block in blocks:
        if block.kind == "run":
            exec(compile("\n" * block.line + block.code, str(page), "exec"), namespace)
    return namespace


def register_entry_points(pyproject: Path, site: Path) -> str:
    """Make a package's `alseg.strategies` entry points visible to importlib.metadata, as pip would; 'name==version'."""
    project = tomllib.loads(pyproject.read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    eps = project["entry-points"]["alseg.strategies"]
    (info / "entry_points.txt").write_text("[alseg.strategies]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    return f"{project['name']}=={project['version']}"


def backticked(text: str) -> set[str]:
    """Every `code span` of a Markdown text."""
    return set(re.findall(r"`([^`\n]+)`", text))


def marked_table(text: str, marker: str) -> list[str]:
    """The first-column code spans of the table between <!-- MARKER:begin --> and <!-- MARKER:end -->."""
    section = text[text.index(f"<!-- {marker}:begin -->"):text.index(f"<!-- {marker}:end -->")]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return [name for cell in rows for name in re.findall(r"`([^`]+)`", cell)]


# --- the block reader, on hand-made pages ------------------------------------------------------------------------


def test_marked_blocks_are_read_with_their_kind_path_language_and_line():
    text = ("# Title\n\n<!-- test: file pkg/mod.py -->\n```python\nX = 1\n```\n\n```\nnot marked\n```\n"
            "<!-- test: run -->\n```python\nprint(X)\nY = 2\n```\n")
    assert marked_blocks(text) == [Block("file", "pkg/mod.py", "python", "X = 1\n", 3),
                                   Block("run", None, "python", "print(X)\nY = 2\n", 11)]
    assert marked_blocks("no markers\n```\ncode\n```\n") == []


@pytest.mark.parametrize(("text", "message"), [
    ("<!-- test: run -->\n\n```python\nx\n```\n", r"page\.md:1: the marker must be directly followed"),
    ("<!-- test: execute -->\n```python\nx\n```\n", r"page\.md:1: malformed marker"),
    ("<!-- test: file -->\n```python\nx\n```\n", r"'file' takes a PATH"),
    ("<!-- test: run extra -->\n```python\nx\n```\n", r"'run' takes none"),
    ("text\n<!-- test: run -->\n```python\nx\n", r"page\.md:2: the code block after the marker is never closed"),
])
def test_a_marker_that_marks_nothing_is_an_error_naming_the_line(text, message):
    with pytest.raises(DocBlockError, match=message):
        marked_blocks(text, "page.md")


def test_a_file_block_may_not_leave_its_folder(tmp_path):
    with pytest.raises(DocBlockError, match="must stay inside the folder"):
        write_file_blocks([Block("file", "../escape.py", "python", "x\n", 1)], tmp_path)


def test_run_blocks_share_one_namespace_and_point_tracebacks_at_the_page(tmp_path):
    blocks = marked_blocks("<!-- test: run -->\n```python\nX = 2\n```\n<!-- test: run -->\n```python\nY = X * 3\n"
                           "```\n<!-- test: run -->\n```python\nraise RuntimeError('from the page')\n```\n")
    with pytest.raises(RuntimeError, match="from the page") as err:
        run_blocks(blocks, tmp_path / "page.md")
    assert err.traceback[-1].lineno + 1 == 10  # the raise is on line 10 of the page (traceback lines are 0-based)
    assert run_blocks(blocks[:2], tmp_path / "page.md")["Y"] == 6


def test_every_marker_in_the_docs_is_well_formed():
    pages = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
    marked = {p.name for p in pages if marked_blocks(p.read_text(), str(p.relative_to(ROOT)))}
    assert "writing-a-strategy.md" in marked


# --- docs/writing-a-strategy.md: the plugin, written from the page ----------------------------------------------

PLUGIN = "alseg-fg-confidence"
MODULE = "alseg_fg_confidence"
STRATEGY = "fg_least_confidence"


@pytest.fixture
def tutorial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The tutorial's files in tmp_path, its entry point registered, tmp_path the working directory."""
    blocks = marked_blocks(TUTORIAL.read_text(), "docs/writing-a-strategy.md")
    write_file_blocks(blocks, tmp_path)
    provider = register_entry_points(tmp_path / PLUGIN / "pyproject.toml", tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    yield blocks, provider
    for name in [m for m in sys.modules if m == MODULE or m.startswith(MODULE + ".")]:
        sys.modules.pop(name)


def test_the_tutorial_writes_a_package_that_imports_only_alseg_api(tutorial, tmp_path):
    blocks, provider = tutorial
    written = {b.arg for b in blocks if b.kind == "file"}
    assert written == {f"{PLUGIN}/pyproject.toml", f"{PLUGIN}/{MODULE}/__init__.py",
                       f"{PLUGIN}/tests/test_fg_least_confidence.py"}
    assert alseg_imports(tmp_path / PLUGIN / MODULE / "__init__.py") == ["alseg.api"]
    assert provider == f"{PLUGIN}==0.1.0"
    project = tomllib.loads((tmp_path / PLUGIN / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == ["alseg>=0.2,<0.3"]
    (name, target), = project["entry-points"]["alseg.strategies"].items()
    module, _, cls_name = target.partition(":")
    cls = getattr(__import__(module), cls_name)
    check_strategy_class(cls, name)  # the registry's rule: a Strategy whose `name` is the entry-point name
    assert name == STRATEGY


def _small_bench(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Make alseg.run_benchmark use one torch thread and a cache in root (the docs' call stays as written)."""
    bench = python_api.run_benchmark
    monkeypatch.setattr(python_api, "run_benchmark", lambda config=None, **kw: bench(
        config, **{**kw, "threads": 1, "cache_dir": str(root / "cache")}))


def test_the_tutorial_blocks_run_the_maths_the_kit_and_a_benchmark_through_the_registry(tutorial, tmp_path,
                                                                                         monkeypatch, capsys):
    blocks, provider = tutorial
    _small_bench(monkeypatch, tmp_path)
    assert [b.kind for b in blocks].count("run") == 3
    namespace = run_blocks(blocks, TUTORIAL)
    out = capsys.readouterr().out
    assert "8 checks passed" in out
    result = namespace["result"]
    assert set(result.runs["strategy"]) == {"random", STRATEGY}
    run_file = tmp_path / "results" / "fg-smoke" / "runs" / STRATEGY / "seed-0.jsonl"
    lines = [json.loads(line) for line in run_file.read_text().splitlines()]
    assert [r["provider"] for r in lines] == [provider, provider]
    assert len(set(lines[0]["selected"])) == 4


def test_the_tutorial_strategy_refuses_a_bad_parameter_as_a_usage_error(tutorial):
    from alseg.errors import AlsegUsageError
    from alseg.strategies.registry import discover, resolve

    (spec,) = resolve(f"{STRATEGY}(gamma=0)", discover())
    assert spec.run_name == f"{STRATEGY}(gamma=0)" and spec.provider == f"{PLUGIN}==0.1.0"
    assert resolve(f"{STRATEGY}(gamma=1)", discover())[0].run_name == STRATEGY  # the default is left out
    with pytest.raises(AlsegUsageError, match=r"gamma must be a finite number >= 0"):
        resolve(f"{STRATEGY}(gamma=-1)", discover())


@pytest.mark.slow
def test_the_tutorial_package_installs_with_pip_lists_and_passes_its_own_tests(tmp_path):
    """pip builds and installs the page's package into a target folder (not this environment); its tests pass."""
    write_file_blocks(marked_blocks(TUTORIAL.read_text()), tmp_path)
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--disable-pip-version-check", "--target", str(site), str(tmp_path / PLUGIN)],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    env.update(PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]), COLUMNS="250",
               OMP_NUM_THREADS="1")
    listing = subprocess.run([sys.executable, "-m", "alseg.cli", "strategies"], env=env, capture_output=True,
                             text=True, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if f" {STRATEGY} " in line)
    assert f"{PLUGIN}==0.1.0" in row and "model" in row and " ok " in row
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / PLUGIN)],
                           env=env, capture_output=True, text=True, cwd=tmp_path / PLUGIN)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "18 passed" in tests.stdout  # 2 instances x 8 checks, the known answers, the refusal


# --- docs/reading-the-leaderboard.md: every column of the committed report is explained ------------------------


def markdown_headers(text: str) -> list[str]:
    """The header cells of every table of a Markdown text (the line above each `| :---` separator)."""
    lines = text.splitlines()
    headers = []
    for above, line in itertools.pairwise(lines):
        if re.match(r"^\| :?-{3,}", line):
            headers += [cell.strip() for cell in above.strip().strip("|").split("|")]
    return headers


def header_key(header: str) -> str:
    """A header as the doc names it: budgets and rounds as placeholders ('Dice@30' -> 'Dice@n')."""
    header = re.sub(r"@\d+$", "@n", header)
    header = re.sub(r"^round \d+ \(n=\d+\)$", "round r (n=…)", header)
    return re.sub(r"^round \d+$", "round r", header)


def test_header_keys_replace_budgets_and_rounds():
    assert [header_key(h) for h in ("Dice@30", "mIoU@180", "round 4 (n=150)", "round 0", "AUBC (Dice)")] == [
        "Dice@n", "mIoU@n", "round r (n=…)", "round r", "AUBC (Dice)"]
    assert markdown_headers("| a | b |\n| :--- | ---: |\n| 1 | 2 |\n\n| c |\n| :--- |\n") == ["a", "b", "c"]


def test_reading_the_leaderboard_explains_every_column():
    explained = backticked(LEADERBOARD_DOC.read_text())
    missing = {}
    for name in ("leaderboard.csv", "aubc.csv", "overlap.csv"):
        columns = pd.read_csv(REFERENCE / name, nrows=0).columns
        missing[name] = [c for c in columns if c not in explained]
    labels = set(pd.read_csv(REFERENCE / "leaderboard.csv")["label"])
    headers = {header_key(h) for h in markdown_headers((REFERENCE / "leaderboard.md").read_text())}
    missing["leaderboard.md"] = sorted(h for h in headers - labels if h not in explained)  # labels: penalty columns
    assert not any(missing.values()), f"docs/reading-the-leaderboard.md does not explain: {missing}"
    assert len(headers) > 30  # the reference report has every table, so every kind of header is checked


def test_reading_the_leaderboard_quotes_the_committed_verdicts():
    quoted = [line.strip()[2:] for line in LEADERBOARD_DOC.read_text().splitlines() if line.strip().startswith("> ")]
    committed = (REFERENCE / "leaderboard.md").read_text().splitlines()
    assert len(quoted) == 2
    for line in quoted:
        assert f"- {line}" in committed, f"not a verdict line of results/cvc-clinicdb-cpu/leaderboard.md: {line}"


def test_reading_the_leaderboard_blocks_run(capsys):
    blocks = marked_blocks(LEADERBOARD_DOC.read_text(), "docs/reading-the-leaderboard.md")
    assert [b.kind for b in blocks] == ["run"]
    run_blocks(blocks, LEADERBOARD_DOC)


# --- docs/protocol.md: every option is protocol or not, as the code says -----------------------------------------


def test_protocol_doc_lists_every_option(tmp_path, synthetic32):
    import dataclasses

    import torch

    from alseg.experiment import experiment_protocol

    text = (DOCS / "protocol.md").read_text()
    listed_in, listed_out = marked_table(text, "protocol-in"), marked_table(text, "protocol-out")
    cfg = resolve_config({**TINY, "out": str(tmp_path / "results"), "cache_dir": str(tmp_path / "cache")})
    written = set(experiment_protocol(cfg, synthetic32, torch.device("cpu")))
    weights = tmp_path / "encoder.pt"
    weights.write_bytes(b"not really weights: only hashed")
    with_file = set(experiment_protocol(dataclasses.replace(cfg, encoder_weights=str(weights)), synthetic32,
                                        torch.device("cpu")))
    assert with_file - written == {"encoder_weights_sha256"}
    assert sorted(listed_in) == sorted(with_file), "the protocol-in table differs from experiment_protocol's keys"
    assert set(PROTOCOL_FIELDS) <= set(listed_in)
    others = set(OPTION_NAMES) - set(PROTOCOL_FIELDS) - {"device", "precision"}  # those two: stored as resolved
    assert sorted(listed_out) == sorted(others), (
        f"docs/protocol.md's protocol-out table should list every other option: missing "
        f"{sorted(others - set(listed_out))}, not options {sorted(set(listed_out) - others)}")


# --- docs/suggest.md, docs/getting-started.md and README.md quote the code -----------------------------------


def test_suggest_doc_names_every_option():
    import typer.main

    from alseg.cli import app

    suggest = typer.main.get_command(app).commands["suggest"]
    options = [o for p in suggest.params for o in p.opts if o.startswith("--")]
    text = (DOCS / "suggest.md").read_text()
    missing = [o for o in options if f"`{o}`" not in text and f"`{o}/" not in text]
    assert len(options) > 20 and not missing, f"docs/suggest.md does not name: {missing}"


def first_code_block(text: str) -> str:
    """The text of a Markdown page's first fenced code block."""
    match = re.search(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    assert match, "no fenced code block"
    return match.group(1)


def test_getting_started_quotes_the_readme_and_the_detection_note(tmp_path, monkeypatch):
    from alseg.config import detect

    text = (DOCS / "getting-started.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert first_code_block(text) == first_code_block(readme)
    assert first_code_block(readme).splitlines() == [
        'python -m pip install -e ".[test]" && alseg bench --strategies all', "python -m pytest -n 2"]
    for sub in ("images", "masks"):
        (tmp_path / "my_polyps" / sub).mkdir(parents=True)
        (tmp_path / "my_polyps" / sub / "case001.png").write_bytes(b"")  # detection reads names, not pixels
    monkeypatch.chdir(tmp_path)
    name, note = detect(Path("my_polyps/"))
    assert name == "folder"
    assert f"\nnote: {note}\n" in text, f"getting-started.md should quote the detection note:\nnote: {note}"


def test_the_readme_python_example_is_the_one_the_api_test_runs():
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{readme_example()}```" in readme


def test_the_readme_names_the_api_version_and_only_pages_that_exist():
    from alseg.api import API_VERSION

    readme = (ROOT / "README.md").read_text()
    assert re.findall(r"`alseg\.api` \(version (\d+\.\d+)", readme) == [API_VERSION]
    pages = set(re.findall(r"docs/[\w.-]+\.md", readme))
    planned = {"docs/scaling.md"}  # written beside this page by the --workers/--executor work
    assert pages and not [p for p in sorted(pages - planned) if not (ROOT / p).is_file()]


def test_the_docs_index_is_complete():
    index = (DOCS / "README.md").read_text()
    section = index[index.index("## Code blocks"):]
    listed = set(re.findall(r"\]\(([\w.-]+\.md)\)", index[:index.index("## Code blocks")]))
    assert {p.name for p in DOCS.glob("*.md")} - {"README.md"} <= listed
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| `")]
    defined = {}
    for path in (ROOT / "tests").glob("test_*.py"):
        defined[path.name] = set(re.findall(r"^def (test_\w+)", path.read_text(), flags=re.M))
    problems, pages_with_rows = [], set()
    for page_cell, block_cell, test_cell in rows:
        page = ROOT / page_cell.strip("`")
        pages_with_rows.add(page.name)
        if not page.is_file():
            problems.append(f"no page {page_cell}")
            continue
        for marker in re.findall(r"`(<!--[^`]*-->)`", block_cell):
            if marker not in page.read_text():
                problems.append(f"{page_cell} has no {marker}")
        refs = re.findall(r"`((?:tests/\w+\.py::\w+)|\.ci/run)`", test_cell)
        if not refs:
            problems.append(f"row of {page_cell} names no test")
        for ref in refs:
            file, _, func = ref.partition("::")
            if not (ROOT / file).is_file() or (func and func not in defined.get(Path(file).name, set())):
                problems.append(f"{ref} does not exist")
    for path in [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]:
        if marked_blocks(path.read_text()) and path.name not in pages_with_rows:
            problems.append(f"{path.name} has <!-- test: --> blocks but no row in docs/README.md")
    assert not problems, problems
