"""The `alseg` command line: bench, report, strategies, datasets. Commands are thin; work lives in alseg.*."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alseg import __version__
from alseg.errors import AlsegError, AlsegUsageError, Terminated, debug_mode
from alseg.presets import PRESET_HELP

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
    help="Benchmark active-learning strategies for medical image segmentation, honestly.",
)
out = Console()
err = Console(stderr=True)

DATA, AL, TRAIN, OUTPUT = "Data", "Active learning", "Training", "Output"


def friendly_errors(func: Callable[..., None]) -> Callable[..., None]:
    """Usage errors exit 2, domain errors exit 1, each as one red line on stderr (ALSEG_DEBUG=1: traceback)."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> None:
        debug = debug_mode()
        try:
            func(*args, **kwargs)
        except AlsegUsageError as e:
            if debug:
                raise
            err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except AlsegError as e:
            if debug:
                raise
            err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM during a benchmark (Terminated)
            err.print("interrupted: finished rounds are stored; rerun the same command to resume")
            raise typer.Exit(143 if isinstance(stop, Terminated) else 130) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        out.print(f"alseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Benchmark active-learning strategies for medical image segmentation."""


PRESET_TEXT = "; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items())


@app.command()
@friendly_errors
def bench(
    preset: Annotated[str | None, typer.Option(help=f"Starting values for every option. {PRESET_TEXT}. "
                                               "Default: quick.")] = None,
    config: Annotated[Path | None, typer.Option(help="A TOML file whose keys are these long option names "
                                                "(e.g. a stored results/<experiment>/config.toml); flags given "
                                                "here override it.")] = None,
    dataset: Annotated[str | None, typer.Option(help="synthetic | cvc-clinicdb | folder (see `alseg datasets`). "
                                                "Default: detected from --data-dir when one is given, else the "
                                                "preset's.", rich_help_panel=DATA)] = None,
    data_dir: Annotated[str | None, typer.Option(help="Folder holding the dataset (cvc-clinicdb: Original/ + "
                                                 "Ground Truth/ or images/ + masks/; folder: images/ + masks/). "
                                                 "Without --dataset, its layout decides the dataset.",
                                                 rich_help_panel=DATA)] = None,
    split_file: Annotated[str | None, typer.Option(help="JSON {train: [...], test: [...]} or CSV id,split that "
                                                   "fixes the test split. folder: default split.json/split.csv "
                                                   "in the folder, else a seeded 10% test split; cvc-clinicdb: "
                                                   "default the built-in PraNet split.", rich_help_panel=DATA)] = None,
    cache_dir: Annotated[str | None, typer.Option(help="Where decoded, resized arrays are cached "
                                                  "(default datasets/.cache).", rich_help_panel=DATA)] = None,
    allow_empty_masks: Annotated[bool, typer.Option("--allow-empty-masks", help="Accept a dataset whose every "
                                                    "training mask is empty (refused by default: there is no "
                                                    "foreground to learn, often a wrong masks/ folder).",
                                                    rich_help_panel=DATA)] = False,
    allow_majority_foreground: Annotated[bool, typer.Option("--allow-majority-foreground", help="Accept a dataset "
                                                            "whose training masks are on average more than 50% "
                                                            "foreground (refused by default: the masks may be "
                                                            "inverted).", rich_help_panel=DATA)] = False,
    image_size: Annotated[int | None, typer.Option(help="Square input size in pixels, a multiple of 32. "
                                                   "Larger is slower and usually more accurate.",
                                                   rich_help_panel=DATA)] = None,
    strategies: Annotated[str | None, typer.Option(help="Comma-separated strategies, 'all', fnmatch patterns "
                                                   "('proposed*'), with parameters: \"proposed,proposed("
                                                   "discrepancy=false)\". See `alseg strategies`.",
                                                   rich_help_panel=AL)] = None,
    exclude: Annotated[str | None, typer.Option(help="Comma-separated patterns of run names to leave out.",
                                                rich_help_panel=AL)] = None,
    seeds: Annotated[int | None, typer.Option(help="Number of repetitions (seeds 0..N-1); every strategy of a "
                                              "seed shares the initial labeled set and initial weights.",
                                              rich_help_panel=AL)] = None,
    initial: Annotated[int | None, typer.Option(help="Size of the random initial labeled set.",
                                                rich_help_panel=AL)] = None,
    rounds: Annotated[int | None, typer.Option(help="Number of selection rounds after the initial one.",
                                               rich_help_panel=AL)] = None,
    budget: Annotated[int | None, typer.Option(help="Images selected per round.", rich_help_panel=AL)] = None,
    selection_timeout: Annotated[float | None, typer.Option(help="Seconds one select() may take before the run "
                                                            "ends with status timeout (0 = no limit).",
                                                            rich_help_panel=AL)] = None,
    no_plugins: Annotated[bool, typer.Option("--no-plugins", help="Run built-in strategies only (also "
                                             "ALSEG_DISABLE_PLUGINS=1).", rich_help_panel=AL)] = False,
    epochs: Annotated[int | None, typer.Option(help="Training epochs after each selection.",
                                               rich_help_panel=TRAIN)] = None,
    initial_epochs: Annotated[int | None, typer.Option(help="Training epochs in round 0 (few images, so more "
                                                       "epochs) and for --full.", rich_help_panel=TRAIN)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size for training and passes, 2 or more (BatchNorm).",
                                                   rich_help_panel=TRAIN)] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate; lower it if the loss diverges.",
                                             rich_help_panel=TRAIN)] = None,
    schedule: Annotated[str | None, typer.Option(help="Learning-rate schedule within a round: constant, or cosine "
                                                 "(decays to 0 by the round's end; steadier fine-tuning).",
                                                 rich_help_panel=TRAIN)] = None,
    encoder: Annotated[str | None, typer.Option(help="segmentation-models-pytorch encoder name, e.g. "
                                                "timm-tf_efficientnet_lite0, resnet34, or tu-<timm model>.",
                                                rich_help_panel=TRAIN)] = None,
    encoder_weights: Annotated[str | None, typer.Option(help="imagenet | none | PATH to a local encoder state "
                                                        "dict (offline machines). Lite0's ImageNet weights "
                                                        "install with alseg; others download.",
                                                        rich_help_panel=TRAIN)] = None,
    train_mode: Annotated[str | None, typer.Option(help="finetune: continue from the previous round (the "
                                                   "paper); reset: restart from the seed's initial weights.",
                                                   rich_help_panel=TRAIN)] = None,
    augment: Annotated[bool | None, typer.Option("--augment/--no-augment", help="Random flips during training.",
                                                 rich_help_panel=TRAIN)] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N | mps.",
                                               rich_help_panel=TRAIN)] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads, 0 or more (0 = torch's default).",
                                                rich_help_panel=TRAIN)] = None,
    deterministic: Annotated[bool | None, typer.Option("--deterministic/--no-deterministic",
                                                       help="Deterministic torch algorithms (needed on GPU for "
                                                       "bit-identical reruns; CPU runs are already).",
                                                       rich_help_panel=TRAIN)] = None,
    full: Annotated[bool | None, typer.Option("--full/--no-full", help="Also train once per seed on the whole "
                                              "training pool: the full-supervision ceiling in the report.",
                                              rich_help_panel=OUTPUT)] = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Results root; the experiment goes to "
                                                "OUT/NAME (default results).", rich_help_panel=OUTPUT)] = None,
    name: Annotated[str | None, typer.Option(help="Experiment name, one folder name of letters, digits, - _ . + "
                                             "(default <preset>-<dataset>). Rerunning the same name resumes it.",
                                             rich_help_panel=OUTPUT)] = None,
    new: Annotated[bool, typer.Option("--new", help="Start a new experiment under a fresh name (NAME-2, ...) "
                                      "instead of resuming.", rich_help_panel=OUTPUT)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.",
                                        rich_help_panel=OUTPUT)] = False,
) -> None:
    """Run the active-learning benchmark and write the leaderboard. Rerun the same command to resume."""
    from alseg.config import resolve_config

    overrides = {
        "preset": preset, "dataset": dataset, "data_dir": data_dir, "split_file": split_file, "cache_dir": cache_dir,
        "image_size": image_size, "strategies": strategies, "exclude": exclude, "seeds": seeds, "initial": initial,
        "rounds": rounds, "budget": budget, "selection_timeout": selection_timeout, "epochs": epochs,
        "initial_epochs": initial_epochs, "batch_size": batch_size, "lr": lr, "schedule": schedule, "encoder": encoder,
        "encoder_weights": encoder_weights, "train_mode": train_mode, "augment": augment, "device": device,
        "threads": threads, "deterministic": deterministic, "full": full, "out": out_dir, "name": name,
        "plugins": False if no_plugins else None,
        "allow_empty_masks": allow_empty_masks or None, "allow_majority_foreground": allow_majority_foreground or None,
    }
    cfg = resolve_config(overrides, config)  # every check that needs no data, before torch is even imported
    from alseg.ui import run_bench_command

    code = run_bench_command(cfg, out, err, new=new, quiet=quiet)
    raise typer.Exit(code)


@app.command()
@friendly_errors
def report(
    experiments: Annotated[list[Path], typer.Argument(help="One or more results/<experiment> folders; runs of "
                                                      "folders with the same protocol merge.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write the report (default: the single "
                                                 "experiment folder, or required for several).")] = None,
) -> None:
    """Rebuild every table and figure from stored run files alone (no model, no data)."""
    from alseg.report.load import report_experiments

    if out_dir is None:
        if len(experiments) != 1:
            raise AlsegUsageError("several experiments: choose where the merged report goes with --out DIR")
        out_dir = experiments[0]
    files, tables = report_experiments(experiments, out_dir)
    for table in tables:
        out.print(table)
    out.print(f"report written to [bold]{out_dir}[/]: " + ", ".join(p.name for p in files))


@app.command("strategies")
@friendly_errors
def strategies_cmd(
    no_plugins: Annotated[bool, typer.Option("--no-plugins", help="List built-ins only.")] = False,
) -> None:
    """List registered strategies: name, provider, the signals they need, status."""
    from alseg.strategies.needs import class_needs
    from alseg.strategies.registry import discover, natural_key

    table = Table(title="alseg strategies (entry-point group alseg.strategies)")
    for col in ("name", "provider", "needs", "status", "description"):
        table.add_column(col)
    for name in sorted(reg := discover(plugins=not no_plugins), key=natural_key):
        e = reg[name]
        if e.cls is None:
            table.add_row(name, e.provider, "", "[red]broken[/]", f"[red]{e.error}[/]")
        else:
            needs = ", ".join(sorted(class_needs(e.cls).names)) or "-"
            table.add_row(name, e.provider, needs, "[green]ok[/]", e.cls.description)
    out.print(table)


@app.command("datasets")
@friendly_errors
def datasets_cmd() -> None:
    """List the datasets alseg can load."""
    from alseg.datasets import list_datasets

    for card in list_datasets():
        need = " (needs --data-dir)" if card.needs_data_dir else ""
        out.print(f"[bold]{card.name}[/]{need}: {card.description}")


def main() -> None:
    """Console entry point."""
    warnings.simplefilter("default", UserWarning)
    app()


if __name__ == "__main__":
    main()
