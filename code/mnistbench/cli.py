"""Command line: ``python -m mnistbench {fetch-data,run,grid,summary,evidence}``.

A user mistake gets one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .config import FRAMEWORKS, GRID_BATCH_SIZES, GRID_SEEDS, PRECISIONS, Config

QUICK = {"epochs": 3, "seeds": (0,)}
DEFAULT_RESULTS = Path("results")


class UserError(Exception):
    """Bad input: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UserError(message)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed {value} must not be negative")
    return value


def momentum_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"momentum {value} must be in [0, 1)")
    return value


FLOAT32_MAX = 3.4028234663852886e38


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < FLOAT32_MAX:  # both frameworks compute in float32
        raise argparse.ArgumentTypeError(f"{text} must be a positive number below {FLOAT32_MAX:.1e} (float32)")
    return value


def add_common(parser: argparse.ArgumentParser, results: bool = True) -> None:
    if results:
        parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS,
                            help="folder of result records (default: results)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="MNIST folder (default: $MNISTBENCH_DATA or ./data)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")


def add_training(parser: argparse.ArgumentParser) -> None:
    defaults = Config()
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="where to train (default: the GPU if there is one)")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.matmul_precision,
                        help="float32 matmul precision in both frameworks (default: float32)")
    parser.add_argument("--learning-rate", type=positive_float, default=defaults.learning_rate)
    parser.add_argument("--momentum", type=momentum_value, default=defaults.momentum)
    parser.add_argument("--train-subset", type=positive_int, default=None, metavar="N",
                        help="train on the first N training images only (smoke tests)")


def build_parser() -> Parser:
    parser = Parser(prog="mnistbench", description="Train the same MLP on MNIST in JAX and in PyTorch, "
                    "time both honestly, and measure why they differ.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                     metavar="{fetch-data,run,grid,summary,evidence}")

    fetch = commands.add_parser("fetch-data", help="download and verify MNIST")
    add_common(fetch, results=False)

    run = commands.add_parser("run", help="one training run in this process; writes one record")
    run.add_argument("--framework", choices=FRAMEWORKS, required=True)
    run.add_argument("--batch-size", type=positive_int, default=Config().batch_size)
    run.add_argument("--epochs", type=positive_int, default=Config().epochs)
    run.add_argument("--seed", type=seed_int, default=0)
    run.add_argument("--progress-lines", action="store_true", help=argparse.SUPPRESS)
    add_training(run)
    add_common(run)

    grid = commands.add_parser("grid", help="the whole study, each run in a fresh process")
    grid.add_argument("--quick", action="store_true",
                      help=f"CPU-sized profile: {QUICK['epochs']} epochs, seed 0 only")
    grid.add_argument("--force", action="store_true", help="redo runs that are already recorded")
    grid.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    grid.add_argument("--batch-sizes", nargs="+", type=positive_int, default=list(GRID_BATCH_SIZES))
    grid.add_argument("--seeds", nargs="+", type=seed_int, default=None, help="default: 0 1 2 (quick: 0)")
    grid.add_argument("--epochs", type=positive_int, default=None, help="default: 10 (quick: 3)")
    add_training(grid)
    add_common(grid)

    summary = commands.add_parser("summary", help="print the results table")
    summary.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    summary.add_argument("--all", action="store_true", help="every study, not only the report's")

    from .evidence import add_evidence_parser

    add_evidence_parser(commands)
    return parser


# --- checks -------------------------------------------------------------------


def training_config(args, **settings) -> Config:
    """The Config the command line asks for; a bad combination is a user error."""
    try:
        return Config(matmul_precision=args.precision, learning_rate=args.learning_rate,
                      momentum=args.momentum, train_subset=args.train_subset, **settings)
    except ValueError as error:
        raise UserError(str(error)) from None


def check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"results folder {folder} is not writable ({error.strerror or error})") from None


def check_data_dir(folder: Path | None) -> None:
    """The MNIST folder must be (or become) a writable folder."""
    from .data import default_data_dir

    folder = Path(folder or default_data_dir())
    if folder.exists() and not folder.is_dir():
        raise UserError(f"data folder {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"data folder {folder} cannot be created ({error.strerror or error})") from None


def check_batch_size(batch_size: int) -> None:
    n_train = 60_000 - Config().validation_size
    if batch_size > n_train:
        raise UserError(f"batch size {batch_size} is larger than the {n_train} training images")


def check_gpu_for_grid(device: str) -> None:
    """The grid's parent must not claim the GPU itself; PyTorch asks without doing so."""
    if device == "gpu":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device gpu: no GPU is visible on this machine")


# --- commands -----------------------------------------------------------------


def say(args, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def cmd_fetch_data(args) -> int:
    from .data import fetch_mnist

    check_data_dir(args.data_dir)
    path = fetch_mnist(args.data_dir, log=lambda m: say(args, m))
    print(path)
    return 0


def cmd_run(args) -> int:
    from tqdm import tqdm

    from . import experiment, results

    check_batch_size(args.batch_size)
    check_writable(args.results_dir)
    check_data_dir(args.data_dir)
    config = training_config(args, batch_size=args.batch_size, epochs=args.epochs, seed=args.seed)
    experiment.prepare_process(args.framework, args.device)
    device = experiment.resolve_device(args.framework, args.device)  # fail before any progress bar
    bar = tqdm(total=config.epochs, desc=f"{args.framework} bs{config.batch_size}", unit="epoch",
               disable=args.quiet, file=sys.stderr)

    def on_epoch(epoch, info):
        bar.update(1)
        bar.set_postfix(val_acc=f"{info['val_accuracy']:.4f}", epoch_s=f"{info['epoch_times_s']:.2f}")
        if args.progress_lines:
            print(f"@epoch {epoch} {config.epochs} {info['val_accuracy']:.6f}", flush=True)

    record = experiment.run_one(args.framework, config, device, args.data_dir, on_epoch,
                                log=lambda m: say(args, m))
    bar.close()
    path = results.save_record(record, args.results_dir)
    if args.progress_lines:
        print(f"@record {path}", flush=True)
    else:
        from .tables import summary_text

        print(summary_text([record]))
        print(f"record: {path}")
    if not record["valid"]:
        print("warning: run marked invalid: " + "; ".join(record["invalid_reasons"]), file=sys.stderr)
    return 0


def cmd_grid(args) -> int:
    from tqdm import tqdm

    from . import experiment, results
    from .data import fetch_mnist
    from .platform import code_version

    for size in args.batch_sizes:
        check_batch_size(size)
    check_writable(args.results_dir)
    check_data_dir(args.data_dir)
    check_gpu_for_grid(args.device)

    epochs = args.epochs or (QUICK["epochs"] if args.quick else Config().epochs)
    seeds = args.seeds or (QUICK["seeds"] if args.quick else GRID_SEEDS)
    base = training_config(args, epochs=epochs)
    device_kind = "gpu" if args.device == "gpu" else ("cpu" if args.device == "cpu" else _auto_device_kind())
    version = code_version()
    try:
        plan = experiment.grid_configs(base, args.frameworks, args.batch_sizes, seeds)
    except ValueError as error:
        raise UserError(str(error)) from None
    fetch_mnist(args.data_dir, log=lambda m: say(args, m))  # once, before the children start
    todo = [(fw, cfg) for fw, cfg in plan if args.force or not results.is_current(
        args.results_dir / results.run_filename(fw, cfg.batch_size, cfg.seed, device_kind, cfg.fingerprint()),
        cfg.fingerprint(), version)]
    say(args, f"grid: {len(plan)} runs on {device_kind}, {len(plan) - len(todo)} already recorded, "
              f"{len(todo)} to do ({epochs} epochs each)")
    started = time.perf_counter()
    bar = tqdm(total=len(todo) * epochs, unit="epoch", disable=args.quiet, file=sys.stderr)
    try:
        for number, (framework, config) in enumerate(todo, start=1):
            bar.set_description(f"run {number}/{len(todo)} {framework} bs{config.batch_size} seed{config.seed}")
            experiment.run_in_fresh_process(
                framework, config, device_kind, args.results_dir,
                on_epoch=lambda epoch, acc: (bar.update(1), bar.set_postfix(val_acc=f"{acc:.4f}")))
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: finished runs are saved in {args.results_dir}; run grid again to resume",
              file=sys.stderr)
        return 130
    bar.close()
    say(args, f"grid done in {time.perf_counter() - started:.0f} s")
    print(_summary(args.results_dir, show_all=False))
    return 0


def _auto_device_kind() -> str:
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def _summary(results_dir: Path, show_all: bool) -> str:
    from .results import load_records, select_study
    from .tables import summary_text

    records = load_records(results_dir)
    if not records:
        raise UserError(f"no result records in {results_dir}; run `python -m mnistbench grid` first")
    return summary_text(records if show_all else select_study(records))


def cmd_summary(args) -> int:
    print(_summary(args.results_dir, args.all))
    return 0


COMMANDS = {"fetch-data": cmd_fetch_data, "run": cmd_run, "grid": cmd_grid, "summary": cmd_summary}


def main(argv: list[str] | None = None) -> int:
    from .data import DataError
    from .experiment import RunError
    from .results import ResultsError

    try:
        args = build_parser().parse_args(argv)
        if args.command == "evidence":
            from .evidence import cmd_evidence

            return cmd_evidence(args)
        if args.command == "evidence-child":
            from .evidence import child_main

            return child_main(args.task, args.kwargs)
        return COMMANDS[args.command](args)
    except (UserError, DataError, RunError, ResultsError) as error:
        print(f"mnistbench: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
