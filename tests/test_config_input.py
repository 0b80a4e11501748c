"""Config input that never lies: every bad TOML key, name, output folder, data dir or flag value ends in one
usage error (exit 2, a message naming the file or option and the fix) before anything is loaded or written."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from alseg.cli import app
from alseg.config import (
    OPTION_NAMES,
    OPTION_TYPES,
    PROTOCOL_FIELDS,
    BenchConfig,
    protocol_of,
    resolve_config,
    to_toml,
)
from alseg.errors import AlsegUsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV = {"COLUMNS": "250", "ALSEG_DEBUG": None}
COMMITTED = Path(__file__).resolve().parents[1] / "results" / "cvc-clinicdb-cpu" / "config.toml"
runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_ui(monkeypatch, tmp_path):
    """Replace alseg.ui so that an accepted `bench` only records its config (and makes its folder, as a real run
    would): a check that fails to refuse shows up as exit 0 and a folder, never as a benchmark on shared CPUs."""
    seen: list[BenchConfig] = []

    def run_bench_command(cfg: BenchConfig, out, err, new: bool = False, quiet: bool = False) -> int:
        seen.append(cfg)
        cfg.experiment_dir.mkdir(parents=True, exist_ok=True)
        return 0

    module = types.ModuleType("alseg.ui")
    module.run_bench_command = run_bench_command  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "alseg.ui", module)
    monkeypatch.chdir(tmp_path)  # relative paths (results/, a stored config's out) stay in tmp_path
    return seen


@pytest.fixture
def detected(monkeypatch):
    """A stand-in alseg.datasets.detect whose detect_dataset says 'folder' and records the folders it saw."""
    calls: list[Path] = []

    def detect_dataset(data_dir: Path) -> tuple[str, str]:
        calls.append(data_dir)
        return "folder", f"dataset: folder (detected from {data_dir}: images/ + masks/)"

    module = types.ModuleType("alseg.datasets.detect")
    module.detect_dataset = detect_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "alseg.datasets.detect", module)
    return calls


def bench(tmp_path: Path, *args: object):
    """`alseg bench --out TMP/results --quiet ARGS` through CliRunner."""
    return runner.invoke(app, ["bench", "--out", str(tmp_path / "results"), "--quiet", *map(str, args)], env=ENV)


def refused(result, tmp_path: Path, *fragments: str) -> str:
    """Assert exit 2, one red line holding every fragment, no traceback, no experiment folder; return the line."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    assert not (tmp_path / "results").exists()
    return errors[0]


def write_config(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- 1. TOML config: every key type-checked by the rule of the dataclass annotations ---------------------------

TYPE_CASES = {
    "string for a float": ('lr = "1e-3"',
                           "config.toml: key 'lr' must be a number, got the string '1e-3' "
                           "(write lr = 0.001 without quotes)"),
    "string for an int": ('threads = "2"',
                          "key 'threads' must be an integer, got the string '2' (write threads = 2 without quotes)"),
    "string for a bool (full)": ('full = "false"',
                                 "key 'full' must be true or false, got the string 'false' "
                                 "(write full = false without quotes)"),
    "string for a bool (augment)": ('augment = "false"',
                                    "key 'augment' must be true or false, got the string 'false' "
                                    "(write augment = false without quotes)"),
    "float for an int": ("seeds = 2.5", "key 'seeds' must be an integer, got the number 2.5"),
    "whole float for an int": ("batch-size = 8.0", "key 'batch-size' must be an integer, got the number 8.0 "
                               "(write batch-size = 8)"),
    "bool for a float": ("lr = true", "key 'lr' must be a number, got the boolean true"),
    "bool for an int": ("image-size = true", "key 'image-size' must be an integer, got the boolean true"),
    "int for a bool": ("full = 1", "key 'full' must be true or false, got the integer 1 (write full = true)"),
    "list for a string": ('strategies = ["random", "entropy"]',
                          "key 'strategies' must be a string, got a list ['random', 'entropy'] "
                          '(write strategies = "random,entropy", one comma-separated string)'),
    "list for a number": ("lr = [0.001]", "key 'lr' must be a number, got a list [0.001]"),
    "table for a number": ("seeds = { n = 3 }", "key 'seeds' must be an integer, got a table"),
    "number for a string": ("name = 3",
                            "key 'name' must be a string, got the integer 3 (write name = \"3\" with quotes)"),
    "number for a path": ("data-dir = 5", "key 'data-dir' must be a string, got the integer 5"),
    "bool for a string": ("encoder-weights = false", "key 'encoder-weights' must be a string, got the boolean false"),
    "date for a number": ("seeds = 2024-01-01", "key 'seeds' must be an integer, got the date/time 2024-01-01"),
    "string for the timeout": ('selection-timeout = "10"',
                               "key 'selection-timeout' must be a number, got the string '10' "
                               "(write selection-timeout = 10.0 without quotes)"),
    "number for the device": ("device = 0", "key 'device' must be a string, got the integer 0"),
}


@pytest.mark.parametrize("case", list(TYPE_CASES))
def test_config_key_of_the_wrong_type_is_refused(tmp_path, case):
    line, message = TYPE_CASES[case]
    path = write_config(tmp_path, f"[bench]\n{line}\n")
    refused(bench(tmp_path, "--config", path), tmp_path, message)


def test_config_int_where_a_float_belongs_is_a_float(tmp_path):
    path = write_config(tmp_path, "[bench]\nlr = 1\nselection-timeout = 5\n")
    cfg = resolve_config({}, path)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.selection_timeout == 5.0 and isinstance(cfg.selection_timeout, float)
    # the same protocol as the flag (--lr 1 arrives as 1.0): no spurious 'another configuration'
    assert protocol_of(cfg, "x") == protocol_of(resolve_config({"lr": 1.0, "selection_timeout": 5.0}), "x")


def test_config_optional_path_keys_take_strings(tmp_path):
    path = write_config(tmp_path, '[bench]\ndataset = "folder"\ndata-dir = "my_polyps"\nsplit-file = "split.csv"\n')
    cfg = resolve_config({}, path)
    assert (cfg.data_dir, cfg.split_file) == ("my_polyps", "split.csv")


def test_option_types_come_from_the_annotations():
    assert set(OPTION_TYPES) == set(OPTION_NAMES) and "notes" not in OPTION_NAMES
    assert OPTION_TYPES["lr"] == (float, False) and OPTION_TYPES["data_dir"] == (str, True)
    assert OPTION_TYPES["seeds"] == (int, False) and OPTION_TYPES["full"] == (bool, False)


def test_override_of_the_wrong_type_is_refused():
    with pytest.raises(AlsegUsageError, match=r"^--lr must be a number, got the string '1e-3'$"):
        resolve_config({"lr": "1e-3"})
    with pytest.raises(AlsegUsageError, match="--threads must be an integer, got the boolean true"):
        resolve_config({"threads": True})


def test_override_that_is_no_option_is_refused():
    with pytest.raises(AlsegUsageError, match="unknown option 'learning_rate'; valid options: preset, "):
        resolve_config({"learning_rate": 0.1})


def test_every_option_has_a_bench_flag():
    command = typer.main.get_command(app).commands["bench"]
    params = {p.name for p in command.params} | {"out", "plugins"}  # --out is out_dir, --no-plugins sets plugins
    assert set(OPTION_NAMES) <= params, set(OPTION_NAMES) - params


# --- 1. TOML config: structure and the file itself ------------------------------------------------------------


def test_config_unknown_key_is_refused_with_the_valid_keys(tmp_path):
    path = write_config(tmp_path, "[bench]\nlearning-rate = 0.01\n")
    refused(bench(tmp_path, "--config", path), tmp_path, "invalid option 'learning-rate'", "config.toml",
            "valid options: preset, dataset,", "allow-majority-foreground")


def test_config_notes_is_no_key(tmp_path):
    path = write_config(tmp_path, '[bench]\nnotes = "x"\n')
    line = refused(bench(tmp_path, "--config", path), tmp_path, "invalid option 'notes'")
    assert "notes," not in line.split("valid options:")[1]


def test_config_other_table_beside_bench_is_refused(tmp_path):
    path = write_config(tmp_path, "[bench]\nseeds = 2\n[train]\nlr = 0.01\n")
    refused(bench(tmp_path, "--config", path), tmp_path, "config.toml: [train] outside the [bench] table",
            "move the options into [bench]")


def test_config_top_level_key_beside_bench_is_refused(tmp_path):
    path = write_config(tmp_path, "lr = 0.01\n[bench]\nseeds = 2\n")
    refused(bench(tmp_path, "--config", path), tmp_path, "config.toml: 'lr' outside the [bench] table")


def test_config_other_table_without_bench_is_refused(tmp_path):
    path = write_config(tmp_path, "[training]\nlr = 0.01\n")
    refused(bench(tmp_path, "--config", path), tmp_path, "config.toml: table [training] is not part of an alseg "
            "config", "[bench]")


def test_config_bench_that_is_no_table_is_refused(tmp_path):
    path = write_config(tmp_path, "bench = 3\n")
    refused(bench(tmp_path, "--config", path), tmp_path, "'bench' must be the table [bench]", "the integer 3")


def test_config_same_key_spelled_twice_is_refused(tmp_path):
    path = write_config(tmp_path, "[bench]\nbatch-size = 8\nbatch_size = 4\n")
    refused(bench(tmp_path, "--config", path), tmp_path, "keys 'batch-size' and 'batch_size' are the same option")


def test_config_top_level_keys_without_bench_still_load(tmp_path):
    path = write_config(tmp_path, "seeds = 2\nbatch_size = 8\n")
    assert (resolve_config({}, path).seeds, resolve_config({}, path).batch_size) == (2, 8)


def test_config_empty_file_gives_the_preset(tmp_path):
    assert resolve_config({}, write_config(tmp_path, "")) == resolve_config({})


def test_config_with_a_utf8_bom_loads(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf[bench]\nseeds = 2\n")
    assert resolve_config({}, path).seeds == 2


def test_config_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "config.toml").write_text("[bench]\n")
    refused(bench(tmp_path, "--config", tmp_path / "exp"), tmp_path, f"--config: {tmp_path / 'exp'} is a folder",
            f"did you mean {tmp_path / 'exp' / 'config.toml'}?")


def test_config_missing_file_is_refused(tmp_path):
    refused(bench(tmp_path, "--config", tmp_path / "nope.toml"), tmp_path,
            f"--config: file {tmp_path / 'nope.toml'} does not exist")


def test_config_unreadable_file_is_refused(tmp_path, monkeypatch):
    path = write_config(tmp_path, "[bench]\n")
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)  # tests run as root: chmod 000 would not stop a read
    refused(bench(tmp_path, "--config", path), tmp_path, f"--config: cannot read {path}: permission denied")


def test_config_not_utf8_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes('[bench]\nname = "café"\n'.encode("latin-1"))
    refused(bench(tmp_path, "--config", path), tmp_path, f"--config: {path} is not UTF-8 text", "save it as UTF-8")


def test_config_invalid_toml_is_refused(tmp_path):
    path = write_config(tmp_path, "[bench]\nlr = = 0.1\n")
    refused(bench(tmp_path, "--config", path), tmp_path, f"--config: {path} is not valid TOML", "line 2")


# --- 1. stored configs load and round-trip ----------------------------------------------------------------------


def test_stored_config_round_trips(tmp_path):
    cfg = resolve_config({"dataset": "folder", "data_dir": "données/polypes \"v2\"", "split_file": "split.csv",
                          "lr": 3e-4, "selection_timeout": 2.5, "full": True, "augment": False, "seeds": 2,
                          "name": "polypes-été", "allow_empty_masks": True, "allow_majority_foreground": True,
                          "strategies": "proposed,proposed(discrepancy=false)", "exclude": "asa"})
    path = write_config(tmp_path, to_toml(cfg))
    again = resolve_config({}, path)
    assert again == cfg
    assert to_toml(again) == to_toml(cfg)


def test_committed_stored_config_loads_and_round_trips(tmp_path):
    stored = tomllib.loads(COMMITTED.read_text(encoding="utf-8"))["bench"]
    cfg = resolve_config({}, COMMITTED)
    for key, value in stored.items():
        assert getattr(cfg, key.replace("-", "_")) == value, key
    assert (cfg.allow_empty_masks, cfg.allow_majority_foreground, cfg.notes) == (False, False, ())
    assert resolve_config({}, write_config(tmp_path, to_toml(cfg))) == cfg


def test_synthetic_over_a_preset_with_a_folder_round_trips(tmp_path):
    cfg = resolve_config({"preset": "cpu", "dataset": "synthetic"})
    assert cfg.data_dir is None  # the cpu preset's datasets/cvc-clinicdb is not the synthetic set's
    assert resolve_config({}, write_config(tmp_path, to_toml(cfg))) == cfg


def test_older_stored_config_of_synthetic_with_the_preset_folder_loads(tmp_path):
    text = '[bench]\npreset = "cpu"\ndataset = "synthetic"\ndata-dir = "datasets/cvc-clinicdb"\n'
    cfg = resolve_config({}, write_config(tmp_path, text))
    assert (cfg.dataset, cfg.data_dir) == ("synthetic", None)


# --- 2. --name and --out --------------------------------------------------------------------------------------

BAD_NAMES = {
    "slash": ("a/b", "is a path"),
    "backslash": ("a\\b", "is a path"),
    "parent": ("..", "starts with a dot"),
    "dot": (".", "starts with a dot"),
    "hidden": (".hidden", "starts with a dot"),
    "space": ("my polyps", "is not a safe folder name"),
    "colon": ("x:y", "is not a safe folder name"),
    "star": ("a*", "is not a safe folder name"),
    "trailing dot": ("exp.", "is not a safe folder name"),
    "reserved on Windows": ("CON", "is not a safe folder name"),
    "too long": ("x" * 101, "up to 100 letters"),
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_unsafe_name_is_refused(tmp_path, case):
    name, fragment = BAD_NAMES[case]
    refused(bench(tmp_path, "--name", name), tmp_path, f"--name '{name}' ", fragment)


def test_empty_name_is_refused(tmp_path):
    refused(bench(tmp_path, "--name", ""), tmp_path, "--name must not be empty", "leave it out")


def test_unsafe_name_in_a_config_file_is_refused(tmp_path):
    path = write_config(tmp_path, '[bench]\nname = ".."\n')
    refused(bench(tmp_path, "--config", path), tmp_path, "--name '..' starts with a dot")


def test_empty_name_in_a_stored_config_means_the_default(tmp_path):
    cfg = resolve_config({}, write_config(tmp_path, '[bench]\nname = ""\n'))
    assert cfg.experiment_name == "quick-synthetic"


@pytest.mark.parametrize("name", ["my-polyps_v2.1+aug", "polypes-été", "2024"])
def test_safe_name_is_accepted(tmp_path, fake_ui, name):
    result = bench(tmp_path, "--name", name)
    assert result.exit_code == 0, result.output
    assert fake_ui[-1].experiment_dir == tmp_path / "results" / name


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    result = runner.invoke(app, ["bench", "--out", str(tmp_path / "results"), "--quiet"], env=ENV)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"--out {tmp_path / 'results'} is a file; give a folder" in result.output
    assert (tmp_path / "results").read_text() == "not a folder"


def test_out_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "results"
    result = runner.invoke(app, ["bench", "--out", str(out), "--quiet"], env=ENV)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"--out {out}: {tmp_path / 'file'} is a file, so no folder can be created under it" in result.output
    assert (tmp_path / "file").read_text() == "x"


def test_experiment_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "exp").write_text("x")
    result = bench(tmp_path, "--name", "exp")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"--name exp: {tmp_path / 'results' / 'exp'} exists and is a file" in result.output
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["exp"]


def test_out_not_writable_is_refused(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path else real(p, mode))  # root
    refused(bench(tmp_path, "--name", "exp"), tmp_path, f"--out {tmp_path / 'results'}: {tmp_path} is not "
            "writable (permission denied)")


# --- 3. dataset detection -------------------------------------------------------------------------------------


def test_data_dir_without_dataset_is_detected(tmp_path, detected):
    cfg = resolve_config({"data_dir": "my_polyps/", "strategies": "random"})
    assert detected == [Path("my_polyps")]
    assert cfg.dataset == "folder" and cfg.experiment_name == "quick-folder"
    assert cfg.notes == ("dataset: folder (detected from my_polyps: images/ + masks/)",)
    assert "notes" not in to_toml(cfg) and "detected" not in to_toml(cfg)
    assert "notes" not in protocol_of(cfg, "x") and "notes" not in PROTOCOL_FIELDS


def test_data_dir_in_a_config_file_is_detected(tmp_path, detected):
    cfg = resolve_config({}, write_config(tmp_path, '[bench]\ndata-dir = "my_polyps"\n'))
    assert detected == [Path("my_polyps")] and cfg.dataset == "folder" and len(cfg.notes) == 1


def test_data_dir_is_detected_over_a_preset_dataset(tmp_path, detected):
    cfg = resolve_config({"preset": "cpu", "data_dir": "my_polyps"})
    assert cfg.dataset == "folder" and cfg.data_dir == "my_polyps"


def test_given_dataset_is_not_detected(tmp_path, detected):
    assert resolve_config({"dataset": "cvc-clinicdb", "data_dir": "cvc"}).dataset == "cvc-clinicdb"
    path = write_config(tmp_path, '[bench]\ndataset = "cvc-clinicdb"\n')
    assert resolve_config({"data_dir": "cvc"}, path).dataset == "cvc-clinicdb"
    assert detected == []


def test_preset_data_dir_is_not_detected(tmp_path, detected):
    cfg = resolve_config({"preset": "cpu"})
    assert (cfg.dataset, cfg.data_dir, cfg.notes) == ("cvc-clinicdb", "datasets/cvc-clinicdb", ())
    assert detected == []


def test_detection_failure_is_a_usage_error(tmp_path, monkeypatch):
    def detect_dataset(data_dir: Path) -> tuple[str, str]:
        raise AlsegUsageError(f"--data-dir {data_dir}: no images/ + masks/ and no Original/; give --dataset")

    module = types.ModuleType("alseg.datasets.detect")
    module.detect_dataset = detect_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "alseg.datasets.detect", module)
    refused(bench(tmp_path, "--data-dir", tmp_path / "nope"), tmp_path, f"--data-dir {tmp_path / 'nope'}: no images")


def test_synthetic_with_a_data_dir_is_refused(tmp_path, detected):
    refused(bench(tmp_path, "--dataset", "synthetic", "--data-dir", "my_polyps"), tmp_path,
            "--dataset synthetic takes no --data-dir", "--dataset folder or cvc-clinicdb")
    assert detected == []


def test_synthetic_with_a_data_dir_in_a_config_file_is_refused(tmp_path):
    path = write_config(tmp_path, '[bench]\ndataset = "synthetic"\ndata-dir = "my_polyps"\n')
    refused(bench(tmp_path, "--config", path), tmp_path, "--dataset synthetic takes no --data-dir")


def make_folder(root: Path, n: int = 6) -> Path:
    """images/ + masks/ with n small PNG pairs."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        mask = np.zeros((32, 32), dtype=np.uint8)
        mask[4:16, 6:20] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    return root


def test_real_detection_of_a_folder(tmp_path):
    pytest.importorskip("alseg.datasets.detect")
    from alseg.datasets import DATASETS

    cfg = resolve_config({"data_dir": str(make_folder(tmp_path / "my_polyps"))})
    assert cfg.dataset in DATASETS and cfg.dataset != "synthetic"
    assert len(cfg.notes) == 1 and cfg.notes[0] and "\n" not in cfg.notes[0]


# --- 4. --allow-empty-masks and --allow-majority-foreground -----------------------------------------------------


def test_allow_options_default_off_and_flags_set_them(tmp_path, fake_ui):
    assert bench(tmp_path).exit_code == 0
    assert (fake_ui[-1].allow_empty_masks, fake_ui[-1].allow_majority_foreground) == (False, False)
    result = bench(tmp_path, "--allow-empty-masks", "--allow-majority-foreground")
    assert result.exit_code == 0, result.output
    assert (fake_ui[-1].allow_empty_masks, fake_ui[-1].allow_majority_foreground) == (True, True)
    assert "allow_empty_masks" not in PROTOCOL_FIELDS and "allow_majority_foreground" not in PROTOCOL_FIELDS


def test_allow_options_from_a_config_file_are_kept_without_the_flag(tmp_path, fake_ui):
    path = write_config(tmp_path, "[bench]\nallow-empty-masks = true\nallow-majority-foreground = true\n")
    assert bench(tmp_path, "--config", path).exit_code == 0
    assert (fake_ui[-1].allow_empty_masks, fake_ui[-1].allow_majority_foreground) == (True, True)


def test_allow_options_are_in_the_data_panel_of_the_help():
    help_text = runner.invoke(app, ["bench", "--help"], env=ENV).output
    data = help_text.split("─ Data ")[1].split("╰")[0]
    assert "--allow-empty-masks" in data and "every training mask is empty" in data
    assert "--allow-majority-foreground" in data and "more than 50% foreground" in data


# --- 5. numeric ranges and values of flags ----------------------------------------------------------------------

BAD_FLAGS = {
    "negative threads": (["--threads", "-1"], "--threads must be 0 (torch's default) or a positive count, got -1"),
    "NaN timeout": (["--selection-timeout", "nan"], "--selection-timeout must be 0 (no limit) or a finite number"),
    "infinite timeout": (["--selection-timeout", "inf"], "--selection-timeout must be 0 (no limit) or a finite"),
    "negative timeout": (["--selection-timeout", "-1"], "--selection-timeout must be 0 (no limit)"),
    "infinite lr": (["--lr", "inf"], "--lr must be a positive finite number (e.g. 0.001), got inf"),
    "NaN lr": (["--lr", "nan"], "--lr must be a positive finite number (e.g. 0.001), got nan"),
    "zero lr": (["--lr", "0"], "--lr must be a positive finite number"),
    "unknown device": (["--device", "tpu"], "unknown device 'tpu'; use auto, cpu, cuda or cuda:N (N = 0, 1, ...)"),
    "mps device": (["--device", "mps"], "unknown device 'mps'; use auto, cpu, cuda or cuda:N (N = 0, 1, ...) (Apple's"),
    "unknown precision": (["--precision", "fp8"],
                          "--precision must be one of fp32, bf16, bf16-dw32, fp16, auto, got 'fp8'"),
    "bad cuda index": (["--device", "cuda:x"], "unknown device 'cuda:x'"),
    "upper-case device": (["--device", "CPU"], "unknown device 'CPU'"),
    "batch size one": (["--batch-size", "1"], "--batch-size must be at least 2 (BatchNorm"),
    "empty data dir": (["--dataset", "folder", "--data-dir", ""], "--data-dir must not be empty"),
    "empty out": (["--out", ""], "--out must not be empty"),
    "empty cache dir": (["--cache-dir", ""], "--cache-dir must not be empty"),
}


@pytest.mark.parametrize("case", list(BAD_FLAGS))
def test_flag_out_of_range_is_refused(tmp_path, case):
    args, message = BAD_FLAGS[case]
    refused(bench(tmp_path, *args), tmp_path, message)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_valid_devices_pass_the_config_check(device):
    assert resolve_config({"device": device}).device == device


def test_config_errors_come_before_the_benchmark_code_loads(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "alseg.ui", None)  # importing it would fail: the check must come first
    refused(bench(tmp_path, "--lr", "inf"), tmp_path, "--lr must be a positive finite number")
