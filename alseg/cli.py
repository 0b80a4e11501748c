"""The `alseg` command line (bench, suggest, report, strategies, datasets, data fetch); work lives in alseg.*."""

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
from alseg.suggestions.options import SHARED_OPTIONS, bench_overrides, borrow_options

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
    help="Benchmark active-learning strategies for medical image segmentation, honestly.",
)
out = Console()
err = Console(stderr=True)

DATA, AL, TRAIN, SCALE, OUTPUT = "Data", "Active learning", "Training", "Scale", "Output"


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
    dataset: Annotated[str | None, typer.Option(help="synthetic | cvc-clinicdb | kvasir-seg | folder (see `alseg "
                                                "datasets`). "
                                                "Default: detected from --data-dir when one is given, else the "
                                                "preset's.", rich_help_panel=DATA)] = None,
    data_dir: Annotated[str | None, typer.Option(help="Folder holding the dataset (cvc-clinicdb: Original/ + "
                                                 "Ground Truth/ or images/ + masks/; kvasir-seg: the folder "
                                                 "holding Kvasir-SEG/, or Kvasir-SEG/ itself; folder: images/ + "
                                                 "masks/). "
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
    initial: Annotated[str | None, typer.Option(metavar="N[,N...]", help="Size of the random initial labeled set. "
                                                "A comma list (10,30), here or in --budget / --rounds, runs a grid "
                                                "of budget regimes (every combination), each its own experiment "
                                                "OUT/NAME/initial-I-budget-B-rounds-R/, then writes the per-regime "
                                                "summary OUT/NAME/regimes.md and .csv (docs/report.md).",
                                                rich_help_panel=AL)] = None,
    rounds: Annotated[str | None, typer.Option(metavar="N[,N...]", help="Number of selection rounds after the "
                                               "initial one; a comma list (3,5) adds regimes to the grid (see "
                                               "--initial).", rich_help_panel=AL)] = None,
    budget: Annotated[str | None, typer.Option(metavar="N[,N...]", help="Images selected per round; a comma list "
                                               "(10,30) adds regimes to the grid (see --initial).",
                                               rich_help_panel=AL)] = None,
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
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N.",
                                               rich_help_panel=TRAIN)] = None,
    precision: Annotated[str | None, typer.Option(help="fp32 | bf16 | bf16-dw32 | fp16 | auto: the forward "
                                                  "pass's arithmetic (bf16/fp16 autocast; losses, metrics and "
                                                  "scores stay fp32). bf16-dw32 = bf16 with the depthwise "
                                                  "convolutions in fp32 (faster training on CPUs). auto = the "
                                                  "fastest this device supports (bf16-dw32 on CPUs with AVX-512 "
                                                  "BF16/AMX, bf16 on Ampere+ GPUs, fp16 on older GPUs). "
                                                  "Part of the protocol. Presets: quick/cpu fp32, paper auto.",
                                                  rich_help_panel=TRAIN)] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads, 0 or more (0 = torch's default; with "
                                                "--workers N, cores // N per worker).",
                                                rich_help_panel=TRAIN)] = None,
    workers: Annotated[int | None, typer.Option(help="Run N independent (strategy, seed) runs side by side in N "
                                                "worker processes (the parent alone writes the results). On a "
                                                "CPU, N x threads must not exceed the cores. Results equal "
                                                "--workers 1 apart from the times.", rich_help_panel=SCALE)] = None,
    devices: Annotated[str | None, typer.Option(help="Comma-separated devices for the workers, one per worker "
                                                "round-robin (e.g. cuda:0,cuda:1); default: every worker on "
                                                "--device.", rich_help_panel=SCALE)] = None,
    executor: Annotated[str | None, typer.Option(help="local: in this process, or --workers N processes here; "
                                                 "ray: every run a Ray task (needs pip install \"alseg[ray]\"), "
                                                 "--workers N of them at once, each asking for --threads CPUs "
                                                 "(0 = 1) and a GPU on --device cuda; this process alone writes "
                                                 "the results. Default local. See docs/scaling.md.",
                                                 rich_help_panel=SCALE)] = None,
    address: Annotated[str | None, typer.Option(help="With --executor ray: the Ray cluster to join, auto (the one "
                                                "started on this machine, or $RAY_ADDRESS) or HEAD:6379; default: "
                                                "start a private local Ray on 127.0.0.1 without a dashboard.",
                                                rich_help_panel=SCALE)] = None,
    share_round0: Annotated[bool | None, typer.Option("--share-round0/--no-share-round0",
                                                      help="Train, evaluate and pool-pass round 0 once per seed "
                                                      "for every strategy without a training term (identical "
                                                      "records, stored under .shared/). Default on.",
                                                      rich_help_panel=SCALE)] = None,
    deterministic: Annotated[bool | None, typer.Option("--deterministic/--no-deterministic",
                                                       help="Deterministic torch algorithms (needed on GPU for "
                                                       "bit-identical reruns; CPU runs are already).",
                                                       rich_help_panel=TRAIN)] = None,
    full: Annotated[bool | None, typer.Option("--full/--no-full", help="Also train once per seed on the whole "
                                              "training pool: the full-supervision ceiling in the report.",
                                              rich_help_panel=OUTPUT)] = None,
    extra_test: Annotated[str | None, typer.Option(help="NAME[:PATH][,NAME[:PATH]...]: also evaluate every round's "
                                                   "model on another dataset's test split (e.g. kvasir-seg:"
                                                   "../data/kvasir-seg), never used for training or selection; "
                                                   "stored per round and reported as its own curves, AUBC and tests "
                                                   "(extra-test-NAME/ in the report).",
                                                   rich_help_panel=OUTPUT)] = None,
    replay: Annotated[str | None, typer.Option(help="An experiment folder whose finished runs are rerun on their "
                                               "stored selections instead of selecting again (each round's model "
                                               "is trained again: same seeds and labeled sets), e.g. to add "
                                               "--extra-test to finished runs; the protocol must be the source's, "
                                               "the results go to a new --name.",
                                               rich_help_panel=AL)] = None,
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
        "precision": precision, "threads": threads, "workers": workers,
        "devices": devices, "share_round0": share_round0, "deterministic": deterministic, "full": full, "out": out_dir,
        "extra_test": extra_test, "replay": replay,
        "executor": executor, "address": address,
        "name": name,
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
    html: Annotated[bool, typer.Option("--html/--no-html", help="Also write report.html: tables, figures and a "
                                       "gallery of the images each strategy picked (needs the experiment's data: "
                                       "config.toml's data-dir, or --data-dir).")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="With --html: the dataset folder, when config.toml's "
                                                  "data-dir is not where the data is now.")] = None,
    regimes: Annotated[bool, typer.Option("--regimes", help="Compare budget regimes instead of merging: write "
                                          "regimes.md and regimes.csv to --out, one row per regime and strategy "
                                          "(AUBC, paired p and Holm p against Random, who wins in each regime), "
                                          "for folders that differ only in initial, budget and rounds. A grid "
                                          "folder of `alseg bench --budget 10,30` needs no flag: `alseg report "
                                          "OUT/NAME` rebuilds each regime's report and the summary.")] = False,
) -> None:
    """Rebuild every table and figure from stored run files alone (no model; --html also reads the data)."""
    from alseg.regimes import regime_dirs
    from alseg.report.load import report_experiments

    if data_dir is not None and not html:
        raise AlsegUsageError(f"--data-dir {data_dir} is only read for report.html: add --html, or drop --data-dir")
    if regimes or any(regime_dirs(p) for p in experiments):
        from alseg.report.regimes import report_regimes_command

        out_dir, files, tables = report_regimes_command(experiments, out_dir, regimes, html, data_dir)
    elif out_dir is None and len(experiments) != 1:
        raise AlsegUsageError("several experiments: choose where the merged report goes with --out DIR")
    elif html:
        from alseg.report.html import report_experiments_html

        out_dir = out_dir or experiments[0]
        files, tables = report_experiments_html(experiments, out_dir, data_dir=data_dir)
    else:
        out_dir = out_dir or experiments[0]
        files, tables = report_experiments(experiments, out_dir)
    for table in tables:
        out.print(table)
    out.print(f"report written to [bold]{out_dir}[/]: " + ", ".join(p.relative_to(out_dir).as_posix() for p in files))


@app.command()
@friendly_errors
@borrow_options(bench, SHARED_OPTIONS)
def suggest(
    data_dir: Annotated[Path, typer.Option(help="Folder with images/ (every image, labeled or not) and masks/ (the "
                                           "masks made so far, same file names).", rich_help_panel=DATA)],
    labeled: Annotated[str, typer.Option(help="The labeled images: a text file of image names, one per line (e.g. "
                                         "12.png), or 'masked' for every image that has a mask.",
                                         rich_help_panel=DATA)],
    budget: Annotated[int, typer.Option(help="How many images to suggest (at most the unlabeled ones).",
                                        rich_help_panel=AL)],
    strategy: Annotated[str, typer.Option(help="One strategy, with parameters if any: entropy, \"proposed("
                                          "discrepancy=false)\". See `alseg strategies`.", rich_help_panel=AL)],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for suggestions.csv/.png/.html, suggest.json and "
                                          "model.pt; the same --out next time continues the loop.",
                                          rich_help_panel=OUTPUT)],
    preset: Annotated[str | None, typer.Option(help=f"Starting values for the training options. {PRESET_TEXT}. "
                                               "Default: cpu.")] = None,
    model: Annotated[Path | None, typer.Option(help="A model.pt written by an earlier `alseg suggest`: select with "
                                               "it as it is, without training.", rich_help_panel=TRAIN)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initial weights, the data order and the strategy's random "
                                      "choices.", rich_help_panel=AL)] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.", rich_help_panel=OUTPUT)] = False,
    **options: object,
) -> None:
    """Suggest which of your unlabeled images to annotate next; add their masks and rerun to continue the loop."""
    from alseg.suggestions.run import SuggestRequest
    from alseg.suggestions.ui import run_suggest_command

    request = SuggestRequest(data_dir, labeled, budget, strategy, out_dir, preset, model, seed,
                             bench_overrides(options))
    raise typer.Exit(run_suggest_command(request, out, err, quiet=quiet))


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
        out.print(f"[bold]{card.name}[/]{need}: {escape(card.description)}", soft_wrap=True)
        for label, text in (("licence", card.licence), ("cite", card.citation)):
            if text:
                out.print(f"    {label}: {escape(text)}", highlight=False, soft_wrap=True)


data_app = typer.Typer(no_args_is_help=True, help="Obtain datasets: download those with an official archive, say "
                       "how to get the others.")
app.add_typer(data_app, name="data")


@data_app.command("fetch")
@friendly_errors
def data_fetch(
    dataset: Annotated[str, typer.Argument(help="kvasir-seg (downloaded and checked) or cvc-clinicdb (no official "
                                           "download: prints how to obtain it).")],
    data_root: Annotated[Path, typer.Option(help="Where the dataset goes: DATA_ROOT/Kvasir-SEG/ (the archive "
                                            "kvasir-seg.zip is kept beside it).")] = Path("datasets"),
) -> None:
    """Download a dataset into DATA_ROOT and check its files and content hash; then pass --data-dir DATA_ROOT."""
    from alseg.datasets.fetch import fetch_dataset

    fetched = fetch_dataset(dataset, data_root, progressbar=err.is_terminal,
                            say=lambda line: err.print(escape(line), highlight=False, soft_wrap=True))
    for note in fetched.notes:
        err.print(f"[yellow]warning:[/] {escape(note)}", highlight=False, soft_wrap=True)
    if fetched.archive_sha256:
        out.print(f"archive sha256 {fetched.archive_sha256}", highlight=False)
    how = "downloaded into" if fetched.downloaded else "already in"
    same = "the release's" if fetched.matches_release else "NOT the release's (see the warning)"
    out.print(f"{dataset} {how} {fetched.folder}: {fetched.pairs} image/mask pairs, content sha256 "
              f"{fetched.content_sha256} ({same})", highlight=False, soft_wrap=True)
    out.print(f"use it: alseg bench --dataset {dataset} --data-dir {fetched.data_dir}", highlight=False,
              soft_wrap=True)


def main() -> None:
    """Console entry point."""
    warnings.simplefilter("default", UserWarning)
    app()


if __name__ == "__main__":
    main()
