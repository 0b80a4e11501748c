"""Budget regimes: a grid config (`--initial 10,30 --budget 10,30`) as single-regime configs, each its own experiment.

A grid's regimes are the cartesian product of the listed initial, budget and rounds values, kept in
`BenchConfig.regimes` with the first regime in the three fields. Each regime runs, one after another, as a
normal experiment in OUT/NAME/initial-I-budget-B-rounds-R/; the per-regime summary (`alseg.report.regimes`)
then goes to OUT/NAME, which holds no experiment.json of its own. A single regime is a plain experiment in
OUT/NAME, exactly as without lists. No torch at import: the CLI resolves configs through this module.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from alseg.config_file import check_regime_value
from alseg.config_schema import REGIME_OPTIONS, BenchConfig, flag
from alseg.errors import AlsegUsageError
from alseg.events import Emit, Note

if TYPE_CHECKING:  # the dataset layer loads only when a grid runs
    from alseg.datasets.base import SegDataset

REGIME_FOLDER = re.compile(r"initial-(\d+)-budget-(\d+)-rounds-(\d+)")


def fold_regimes(cfg: BenchConfig) -> BenchConfig:
    """Lists of initial/budget/rounds values as a grid: their product in `regimes`, regime 1 in the three fields.

    A product of one regime is the plain single-regime config (no `regimes`); a config without lists is returned as is.
    """
    values = {name: getattr(cfg, name) for name in REGIME_OPTIONS}
    if not any(isinstance(v, (tuple, list)) for v in values.values()):
        return cfg
    lists: list[tuple[int, ...]] = []
    for name, value in values.items():
        checked = check_regime_value(name, value, flag(name))
        lists.append(checked if isinstance(checked, tuple) else (checked,))
    grid = tuple(itertools.product(*lists))
    first = dict(zip(REGIME_OPTIONS, grid[0], strict=True))
    return replace(cfg, regimes=grid if len(grid) > 1 else (), **first)


def regime_lists(cfg: BenchConfig) -> dict[str, int | tuple[int, ...]]:
    """The value (or listed values) of each regime option, as `--initial` etc. would give them again."""
    triples = cfg.regimes or ((cfg.initial, cfg.budget, cfg.rounds),)
    out: dict[str, int | tuple[int, ...]] = {}
    for i, name in enumerate(REGIME_OPTIONS):
        values = tuple(dict.fromkeys(t[i] for t in triples))
        out[name] = values if len(values) > 1 else values[0]
    return out


def regime_folder(initial: int, budget: int, rounds: int) -> str:
    """The folder of one regime inside a grid folder: 'initial-10-budget-30-rounds-5'."""
    return f"initial-{initial}-budget-{budget}-rounds-{rounds}"


def expand_regimes(cfg: BenchConfig) -> list[BenchConfig]:
    """The single-regime configs of a config: itself for one regime; for a grid, one per regime in OUT/NAME/<regime>.

    Each is a plain config (ints, no `regimes`) whose `out` is the grid folder and whose `name` is the regime's
    folder, so its stored config.toml resumes exactly that regime.
    """
    if not cfg.regimes:
        return [cfg]
    root = str(cfg.experiment_dir)
    return [replace(cfg, out=root, name=regime_folder(i, b, r), initial=i, budget=b, rounds=r, regimes=())
            for i, b, r in cfg.regimes]


def regime_label(cfg: BenchConfig) -> str:
    """A regime as progress lines name it: '10 initial + 5 x 30'."""
    return f"{cfg.initial} initial + {cfg.rounds} x {cfg.budget}"


def regime_note(index: int, total: int, cfg: BenchConfig) -> str:
    """The line announcing a regime of a grid: 'regime 2/4: 10 initial + 5 x 30 (results/x/initial-10-...)'."""
    return f"regime {index}/{total}: {regime_label(cfg)} ({cfg.experiment_dir})"


def regime_dirs(root: Path) -> list[Path]:
    """The regime folders of a grid folder, in (initial, budget, rounds) order; [] for any other folder.

    A grid folder has no experiment.json of its own and holds initial-I-budget-B-rounds-R/ experiment folders.
    """
    root = Path(root)
    if not root.is_dir() or (root / "experiment.json").exists():
        return []
    found = []
    for sub in root.iterdir():
        match = REGIME_FOLDER.fullmatch(sub.name)
        if match and (sub / "experiment.json").is_file():
            found.append((tuple(int(g) for g in match.groups()), sub))
    return [sub for _, sub in sorted(found)]


def check_target(cfg: BenchConfig) -> None:
    """Keep grids and experiments apart: no grid into an experiment folder, no single regime into a grid folder."""
    target = cfg.experiment_dir
    if cfg.regimes and (target / "experiment.json").exists():
        raise AlsegUsageError(f"{target} is the experiment of one regime; a grid of {len(cfg.regimes)} regimes needs "
                              "a folder of its own: choose another --name (or add --new)")
    found = regime_dirs(target) if not cfg.regimes else []
    if found:
        raise AlsegUsageError(f"{target} holds a grid of regimes ({', '.join(p.name for p in found)}), not one "
                              "experiment: choose another --name (or add --new), or give the grid's lists "
                              "(e.g. --budget 10,30) to resume it")


def grid_notes(cfg: BenchConfig) -> list[str]:
    """Notes on a grid before it runs: regime folders of an earlier command that the summary covers too."""
    planned = {regime_folder(*t) for t in cfg.regimes}
    earlier = [p.name for p in regime_dirs(cfg.experiment_dir) if p.name not in planned]
    if not earlier:
        return []
    return [f"{cfg.experiment_dir} also holds {', '.join(earlier)} from an earlier command; regimes.md covers them too"]


def prepare_grid(cfg: BenchConfig, emit: Emit) -> tuple[list[BenchConfig], SegDataset]:
    """The regimes of a grid and its data, loaded once, with every regime's budget checked before any runs.

    A regime whose initial + rounds x budget exceeds the training pool is refused (exit 2) naming it.
    """
    from alseg.bench import check_budget, load_data

    check_target(cfg)
    configs = expand_regimes(cfg)
    data = load_data(cfg, emit)
    for index, one in enumerate(configs, 1):
        try:
            check_budget(one, data)
        except AlsegUsageError as err:
            raise AlsegUsageError(f"regime {index}/{len(configs)} ({regime_label(one)}) does not fit: {err}; "
                                  "no regime was run") from None
    for text in grid_notes(cfg):
        emit(Note(text))
    return configs, data
