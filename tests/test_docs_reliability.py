"""docs/reliability.md's bad-input table names real tests, and has the rows the issue asked for."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"


def table_rows() -> list[list[str]]:
    """The rows of section 8 as lists of cells."""
    text = DOC.read_text()
    section = text[text.index("## 8. Bad input"):]
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in section.splitlines() if re.match(r"^\| \d+ \|", line)]


def defined_tests() -> set[str]:
    """Every test function defined under tests/."""
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names |= set(re.findall(r"^def (test_\w+)", path.read_text(), flags=re.M))
    return names


def test_the_table_has_at_least_forty_numbered_rows():
    rows = table_rows()
    assert len(rows) >= 40
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(len(r) == 5 and all(r) for r in rows), [r for r in rows if len(r) != 5]


def test_every_test_the_table_names_exists():
    defined = defined_tests()
    missing = []
    for row in table_rows():
        for ref in re.findall(r"`([^`]+)`", row[3]):
            if ref.startswith("…"):  # another parameter of the test named just before
                continue
            file, _, func = ref.rpartition("::") if "::" in ref else ("", "", ref)
            if file and not (ROOT / "tests" / file).is_file():
                missing.append(ref)
            if func.endswith(".py"):
                if not (ROOT / "tests" / func).is_file():
                    missing.append(ref)
                continue
            pattern = func.split("[")[0]
            if not fnmatch.filter(defined, pattern):
                missing.append(ref)
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"
