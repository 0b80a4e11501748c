"""End-to-end `alseg` commands through typer's CliRunner: bench, report, datasets, strategies, bad input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from conftest import TINY_ARGS, snapshot
from PIL import Image
from typer.testing import CliRunner

from alseg.cli import app

ENV = {"COLUMNS": "250", "ALSEG_DEBUG": None}
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], env=ENV)


@dataclass
class Base:
    root: Path
    out: Path
    cache: Path
    dir: Path
    first_output: str
    leaderboard_md: bytes

    def args(self, *extra: str, name: str = "base") -> list[str]:
        return ["bench", *TINY_ARGS, "--out", str(self.out), "--cache-dir", str(self.cache), "--name", name,
                "--strategies", "random,entropy", *extra]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    """One finished tiny experiment written by `alseg bench` (random and entropy, 6 + 1 x 4 labels)."""
    root = tmp_path_factory.mktemp("cli")
    b = Base(root, root / "results", root / "cache", root / "results" / "base", "", b"")
    result = invoke(*b.args())
    assert result.exit_code == 0, result.output
    b.first_output = result.output
    b.leaderboard_md = (b.dir / "leaderboard.md").read_bytes()
    return b


@pytest.mark.slow
def test_bench_prints_the_leaderboard_and_writes_the_experiment(base):
    out = base.first_output
    assert "Traceback" not in out
    assert "alseg leaderboard" in out and "Random" in out and "Entropy" in out
    assert "synthetic: 300 train / 60 test images at 32 px" in out
    for name in ("leaderboard.md", "leaderboard.csv", "config.toml", "experiment.json", "environment.json"):
        assert (base.dir / name).is_file(), name
    runs = sorted(p.relative_to(base.dir).as_posix() for p in base.dir.glob("runs/*/seed-0.jsonl"))
    assert runs == ["runs/entropy/seed-0.jsonl", "runs/random/seed-0.jsonl"]
    assert all(len((base.dir / r).read_text().splitlines()) == 2 for r in runs)
    md = base.leaderboard_md.decode()
    assert "Random" in md and "Entropy" in md
    csv = (base.dir / "leaderboard.csv").read_text()
    assert "random" in csv and "entropy" in csv


@pytest.mark.slow
def test_stored_config_reproduces_the_protocol(base):
    runs_before = snapshot(base.dir / "runs")
    toml_before = (base.dir / "config.toml").read_text()
    assert 'encoder = "tu-test_efficientnet"' in toml_before and "image-size = 32" in toml_before
    result = invoke("bench", "--config", base.dir / "config.toml", "--quiet")
    assert result.exit_code == 0, result.output
    assert "another configuration" not in result.output
    # Nothing left to do: the run files are untouched, the config is the same.
    assert snapshot(base.dir / "runs") == runs_before
    assert (base.dir / "config.toml").read_text() == toml_before
    assert "alseg leaderboard" in result.output


@pytest.mark.slow
def test_report_rebuilds_an_identical_leaderboard(base):
    md = base.dir / "leaderboard.md"
    md.unlink()
    result = invoke("report", base.dir)
    assert result.exit_code == 0, result.output
    assert "leaderboard.md" in result.output
    assert md.read_bytes() == base.leaderboard_md


def test_report_of_a_folder_that_is_no_experiment(tmp_path):
    result = invoke("report", tmp_path)
    assert result.exit_code == 2
    assert "not an alseg experiment folder" in result.output and "Traceback" not in result.output


def test_datasets_lists_the_loaders():
    result = invoke("datasets")
    assert result.exit_code == 0
    names = [line.split(":")[0].split(" ")[0] for line in result.output.splitlines()
             if ":" in line and not line.startswith(" ")]
    assert names == ["synthetic", "cvc-clinicdb", "folder", "kvasir-seg"]
    assert "licence:" in result.output and "cite:" in result.output
    assert "cvc-clinicdb (needs --data-dir)" in result.output


def test_strategies_lists_the_builtins():
    result = invoke("strategies", "--no-plugins")
    assert result.exit_code == 0
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in result.output.splitlines() if ln.startswith("│")]
    assert [r[0] for r in rows] == ["asa", "coreset", "entropy", "proposed", "random"]
    assert all(r[3] == "ok" and r[1].startswith("alseg==") for r in rows)


def test_bench_help_mentions_every_option():
    result = invoke("bench", "--help")
    assert result.exit_code == 0
    command = typer.main.get_command(app).commands["bench"]
    options = [opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("-")]
    assert len(options) > 25
    missing = [opt for opt in options if opt not in result.output]
    assert not missing, missing


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("alseg ")


# --- bad input: exit 2, one short message, no traceback, nothing written damaged -----------------------------


def make_folder(root: Path, n: int = 8, size: int = 32) -> Path:
    """images/ + masks/ with n PNG pairs (random pixels, a square polyp)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[4 + i : 16 + i, 6:20] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    return root


def folder_missing(tmp: Path) -> list[str]:
    return ["--dataset", "folder", "--data-dir", tmp / "nope"]


def folder_empty(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["--dataset", "folder", "--data-dir", tmp / "empty"]


def cvc_empty(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["--dataset", "cvc-clinicdb", "--data-dir", tmp / "empty"]


def image_without_mask(tmp: Path) -> list[str]:
    root = make_folder(tmp / "data")
    (root / "masks" / "5.png").unlink()
    return ["--dataset", "folder", "--data-dir", root]


def undecodable_image(tmp: Path) -> list[str]:
    root = make_folder(tmp / "data")
    (root / "images" / "3.png").write_bytes(b"this is not a PNG file")
    return ["--dataset", "folder", "--data-dir", root]


def mask_size_differs(tmp: Path) -> list[str]:
    root = make_folder(tmp / "data")
    Image.fromarray(np.zeros((16, 24), dtype=np.uint8)).save(root / "masks" / "2.png")
    return ["--dataset", "folder", "--data-dir", root]


def weights_wrong_keys(tmp: Path) -> list[str]:
    path = tmp / "enc.pt"
    torch.save({"foo.weight": torch.zeros(3, 3), "bar.bias": torch.zeros(3)}, path)
    return ["--encoder-weights", path, "--name", f"fresh-{tmp.name}"]


BAD_INPUT = {
    "unknown strategy": (lambda t: ["--strategies", "random,entropie"],
                         ["unknown strategy 'entropie'", "available: asa, coreset, entropy, proposed, random"]),
    "unknown dataset": (lambda t: ["--dataset", "kvasir"],
                        ["unknown dataset 'kvasir'", "synthetic, cvc-clinicdb, folder"]),
    "unknown encoder": (lambda t: ["--encoder", "resnet999", "--name", f"fresh-{t.name}"],
                        ["unknown encoder 'resnet999'", "resnet34"]),
    "unknown timm encoder": (lambda t: ["--encoder", "tu-no_such_net", "--name", f"fresh-{t.name}"],
                             ["unknown encoder 'tu-no_such_net'"]),
    "unknown preset": (lambda t: ["--preset", "fast"], ["unknown preset 'fast'", "quick, cpu, paper"]),
    "malformed strategy parameter": (lambda t: ["--strategies", "entropy(aggregate=)"],
                                     ["malformed strategy parameters in 'entropy(aggregate=)'"]),
    "bad strategy parameter value": (lambda t: ["--strategies", "entropy(aggregate=median)"],
                                     ["'entropy' rejected its parameters", "mean, sum, max"]),
    "unknown strategy parameter": (lambda t: ["--strategies", "proposed(lamda=1)"],
                                   ["unknown parameter 'lamda'", "valid: clustering"]),
    "data folder missing": (folder_missing, ["nope does not exist"]),
    "empty data folder": (folder_empty, ["has no images/ and masks/ subfolder"]),
    "empty cvc folder": (cvc_empty, ["empty is empty", "--data-dir"]),
    "image without mask": (image_without_mask, ["1 image(s)", "have no mask: 5.png"]),
    "undecodable image": (undecodable_image, ["cannot decode image", "3.png"]),
    "mask size differs": (mask_size_differs, ["2.png is 24x16 but its image", "is 32x32"]),
    "budget larger than pool": (lambda t: ["--initial", "200", "--rounds", "2", "--budget", "60"],
                                ["= 320 labels", "has only 300 images"]),
    "zero seeds": (lambda t: ["--seeds", "0"], ["--seeds must be at least 1, got 0"]),
    "unknown device": (lambda t: ["--device", "tpu"], ["unknown device 'tpu'", "auto, cpu, cuda"]),
    "another config in the folder": (lambda t: ["--lr", "0.01"],
                                     ["another configuration", "lr: stored 0.001, now 0.01", "--new"]),
    "image size not a multiple of 32": (lambda t: ["--image-size", "100"], ["multiple of 32", "got 100; try 96"]),
    "encoder weights of another model": (weights_wrong_keys,
                                         ["do not fit encoder", "missing keys", "unexpected keys", "foo.weight"]),
    "negative rounds": (lambda t: ["--rounds", "-1"], ["--rounds must be 0 or more"]),
    "unknown train mode": (lambda t: ["--train-mode", "scratch"], ["--train-mode must be 'finetune' or 'reset'"]),
}


def check_usage_error(result, fragments: list[str]) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert len(errors[0]) < 2000
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_a_message(base, tmp_path, case):
    make_args, fragments = BAD_INPUT[case]
    extra = [str(a) for a in make_args(tmp_path)]
    before = snapshot(base.dir)
    result = invoke(*base.args(*extra))
    check_usage_error(result, fragments)
    assert snapshot(base.dir) == before


@pytest.mark.slow
def test_missing_encoder_weights_file(base):
    before = snapshot(base.dir)
    result = invoke(*base.args("--encoder-weights", "/nonexistent.pt", name="fresh-missing-weights"))
    check_usage_error(result, ["/nonexistent.pt", "--encoder-weights"])
    assert snapshot(base.dir) == before


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_device_without_cuda(base):
    before = snapshot(base.dir)
    result = invoke(*base.args("--device", "cuda"))
    check_usage_error(result, ["--device cuda: CUDA is not available", "--device cpu"])
    assert snapshot(base.dir) == before


def test_a_failed_encoder_leaves_no_experiment_behind(tmp_path):
    args = ["bench", *TINY_ARGS, "--out", tmp_path / "results", "--cache-dir", tmp_path / "cache",
            "--name", "typo", "--strategies", "random", "--rounds", "0"]
    bad = [a if a != "tu-test_efficientnet" else "tu-test_efficientnett" for a in args]
    result = invoke(*bad)
    assert result.exit_code == 2
    assert not (tmp_path / "results" / "typo" / "experiment.json").exists()
    fixed = invoke(*args)
    assert fixed.exit_code == 0, fixed.output
