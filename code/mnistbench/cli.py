"""Command line: ``python -m mnistbench {fetch-data,run,grid,summary,evidence,campaign,cluster}``.

Each command checks its input, calls the package (``grid`` also skips the runs already recorded), and
prints. A user mistake (or a damaged file) is one line on stderr and exit status 2; Ctrl-C, or SIGTERM
(scancel, a job's time limit), is one line and exit status 130; neither shows a traceback, and neither
loses a finished record.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from tqdm import tqdm

from . import devices
from .arguments import build_parser
from .bench import campaign, campaign_text, results, run, session, variants
from .bench.evidence import items as evidence
from .bench.evidence.items import describe_device
from .bench.process import prepare_process
from .bench.results import load_records
from .bench.selection import select_study
from .bench.session import size
from .checks import check_data_dir, check_not_a_file, check_precision, check_writable
from .cluster import cli as cluster_cli
from .errors import INTERRUPTED_STATUS, Error, UserError
from .mnist_files import DATA_DIR_ENV, default_data_dir, fetch_mnist, load_raw
from .networks.config import Config
from .provenance import code_version, device_name
from .report.formatting import plural
from .report.tables import summary_text

NO_RATE = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"  # the rate would count start-up
INTERRUPTED = {
    "run": "interrupted: the run did not finish, nothing was saved",
    "grid": "interrupted: finished runs are saved in {results_dir}; run the same command to continue",
    "campaign": "interrupted: finished steps are saved in {results_dir}; run the same command to continue",
    "evidence": "interrupted: finished parts are saved in {results_dir}",
    "fetch-data": "interrupted: nothing was stored (a fetch is staged and moved into place only when complete)",
    "summary": "interrupted",
}


# --- checks -------------------------------------------------------------------------


def training_config(args, **settings) -> Config:
    """The Config the command line asks for; a setting ``Config`` refuses is a user error."""
    settings = {"matmul_precision": args.precision, "learning_rate": args.learning_rate, "momentum": args.momentum,
                "train_subset": args.train_subset, **settings}
    try:
        return Config(**settings)
    except ValueError as error:
        raise UserError(str(error)) from None


def data_dir_of(args) -> Path:
    return Path(args.data_dir or default_data_dir())


def say(args, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


# --- commands -----------------------------------------------------------------------


def cmd_fetch_data(args) -> int:
    """Fetch the four MNIST files, each checked by its content (``--check``: check those already there)."""
    check_data_dir(data_dir_of(args))
    if args.check:
        load_raw(data_dir_of(args))  # a missing or damaged file is one line naming it
        print(data_dir_of(args))
        return 0
    print(fetch_mnist(args.data_dir, log=lambda m: say(args, m), force=args.force))
    return 0


def cmd_run(args) -> int:
    """One timed run in this process: every check before training, a progress bar per epoch, the record saved."""
    config = training_config(args, batch_size=args.batch_size, epochs=args.epochs, seed=args.seed)
    chosen = variants.get(args.framework, args.variant)
    prepare_process(args.framework, args.device)
    device = devices.resolve(args.device, (args.framework,), in_this_process=True)  # before anything is created
    variants.check_runs_on(chosen, device)
    check_precision(args.precision, device)
    check_writable(args.results_dir)
    check_data_dir(data_dir_of(args))
    check_not_a_file(args.compilation_cache, "--compilation-cache")
    destination = results.run_path(args.results_dir, args.framework, chosen.name, config, device,
                                   bool(args.compilation_cache))
    results.check_destination(destination)  # a damaged file there: say so now, not after training
    bars = []  # the progress bar starts once the data are checked, so an error stays one line

    def on_start():
        bars.append(tqdm(total=config.epochs, desc=f"{args.framework} {chosen.name} bs{config.batch_size}",
                         unit="epoch", disable=args.quiet, file=sys.stderr, bar_format=NO_RATE))

    def on_epoch(epoch, info):
        bars[0].update(1)
        bars[0].set_postfix(val_acc=f"{info['val_accuracy']:.4f}", epoch_s=f"{info['epoch_times_s']:.2f}")

    try:
        record = run.run_one(args.framework, config, device, args.data_dir, on_epoch, log=lambda m: say(args, m),
                             variant=chosen.name, compilation_cache=args.compilation_cache, on_start=on_start)
    finally:
        for bar in bars:
            bar.close()
    replaces = (Path(args.results_dir) / results.record_filename(record)).exists()
    path = results.save_record(record, args.results_dir)

    print(summary_text([record]))
    print(f"record: {path}" + (" (it replaced the earlier run of these settings)" if replaces else ""))
    if not record["valid"]:
        print("warning: run marked invalid: " + "; ".join(record["invalid_reasons"]), file=sys.stderr)
    return 0


def cmd_grid(args) -> int:
    """Frameworks x batch sizes x seeds, each run a fresh process; recorded runs are skipped unless --force."""
    study = size(args.quick)
    epochs, seeds = args.epochs or study.epochs, args.seeds or study.seeds
    batch_sizes = args.batch_sizes or study.batch_sizes
    base = training_config(args, epochs=epochs, train_subset=args.train_subset or study.train_subset)
    for batch_size in batch_sizes:  # every batch size fits the training images
        training_config(args, epochs=epochs, train_subset=base.train_subset, batch_size=batch_size)
    device = devices.resolve(args.device, args.frameworks)  # before the results folder is created
    check_precision(args.precision, device)
    names = variants.resolve_names(args.variants, args.frameworks, device)
    check_writable(args.results_dir)
    check_data_dir(data_dir_of(args))
    check_not_a_file(args.compilation_cache, "--compilation-cache")
    plan = session.grid_configs(base, args.frameworks, batch_sizes, seeds, names)
    fetch_mnist(args.data_dir, log=lambda m: say(args, m))  # once, before the children start
    version = code_version()
    software = results.software_fingerprint(describe_device(device))  # a run from another machine is redone
    cached = bool(args.compilation_cache)
    todo = [(fw, name, cfg) for fw, name, cfg in plan if args.force
            or not results.is_recorded(args.results_dir, fw, name, cfg, device, version, software, cached)]
    say(args, f"grid: {plural(len(plan), 'run')} on {device}, {len(plan) - len(todo)} already recorded, "
              f"{len(todo)} to do ({epochs} epoch{'s' * (epochs != 1)} each)")
    started = time.perf_counter()
    with tqdm(total=len(todo) * epochs, unit="epoch", disable=args.quiet, file=sys.stderr, bar_format=NO_RATE) as bar:
        for number, (framework, name, config) in enumerate(todo, start=1):
            bar.set_description(f"run {number}/{len(todo)} {framework} {name} bs{config.batch_size} "
                                f"seed{config.seed}")
            session.run_in_fresh_process(
                framework, config, device, args.results_dir, variant=name, data_dir=args.data_dir,
                compilation_cache=args.compilation_cache,
                on_epoch=lambda epoch, acc: (bar.update(1), bar.set_postfix(val_acc=f"{acc:.4f}")))
    say(args, f"grid done in {time.perf_counter() - started:.0f} s")

    paths = [results.run_path(args.results_dir, fw, name, cfg, device, cached) for fw, name, cfg in plan]
    print(summary_text([results.read_record(path) for path in paths if path.exists()]))  # this grid's runs only
    return 0


def summary_of(results_dir: Path, show_all: bool) -> str:
    """The results table of a folder's runs (its newest study, or every study with ``show_all``)."""
    check_not_a_file(results_dir, "results folder")
    records = load_records(results_dir) if results_dir.exists() else []
    if not records:
        raise UserError(f"no result records in {results_dir}; run "
                        f"`python -m mnistbench grid --results-dir {results_dir}` first")
    return summary_text(records if show_all else select_study(records))


def cmd_summary(args) -> int:
    print(summary_of(args.results_dir, args.all))
    return 0


def cmd_evidence(args) -> int:
    """Measure the named evidence items on a device and save their records."""
    device = devices.resolve(args.device, variants.FRAMEWORKS)
    check_writable(args.results_dir)
    names = list(evidence.NAMES) if "all" in args.names else list(dict.fromkeys(args.names))
    fetch_mnist(log=lambda m: say(args, m))
    failures = 0
    for name in names:
        started = time.perf_counter()
        say(args, f"evidence {name} on {device}")
        try:
            path = evidence.run_evidence(name, device, args.quick, args.results_dir, log=lambda m: say(args, f"  {m}"))
        except Error as error:
            failures += 1
            print(f"evidence {name}: {error}", file=sys.stderr)
            continue
        print(f"{name}: {path} ({time.perf_counter() - started:.0f} s)")
    return 1 if failures else 0


def continue_command(args, max_seconds: float | None = None) -> str:
    """The command that continues this campaign, with ``max_seconds`` as its budget where given."""
    words = ["python -m mnistbench campaign", f"--device {args.device}", f"--results-dir {args.results_dir}"]
    budget = max_seconds or args.max_seconds
    words += ["--quick"] * args.quick + ([f"--max-seconds {budget:g}"] if budget else [])
    words += [f"--compilation-cache {args.compilation_cache}"] if args.compilation_cache else []
    return " ".join(words)


def cmd_campaign(args) -> int:
    """A device's whole plan, most important first, within --max-seconds; --dry-run prints it (--json: as data)."""
    if args.json and not args.dry_run:
        raise UserError("--json describes the plan: use it with --dry-run")
    visible = args.device == "cpu" or devices.resolve("auto", variants.FRAMEWORKS) == "gpu"
    if not args.dry_run and not visible:  # a dry run prints a GPU plan anywhere
        raise UserError("--device gpu: JAX and PyTorch see no GPU on this machine (--dry-run prints the plan)")
    check_not_a_file(args.results_dir, "results folder")  # a dry run too: the same folder check, nothing created
    check_not_a_file(args.compilation_cache, "--compilation-cache")
    if not args.dry_run:
        check_writable(args.results_dir)
        check_data_dir(data_dir_of(args))
        if args.data_dir:  # every child process reads the same folder
            os.environ[DATA_DIR_ENV] = str(Path(args.data_dir).resolve())
        fetch_mnist(args.data_dir, log=lambda m: say(args, m))  # once, before the children start
    steps = campaign.plan(args.device, args.quick, args.results_dir)
    history = campaign.load_history(args.results_dir, args.device, device_name(args.device), args.quick)
    planned = campaign.assess(steps, args.device, args.quick, args.results_dir, cached=bool(args.compilation_cache),
                              visible=visible, history=history)
    if args.dry_run and args.json:
        print(json.dumps(campaign_text.plan_json(planned)))
        return 0
    if args.dry_run:
        if not visible:
            print("no GPU on this machine: the plan as a GPU would run it (a step recorded in the folder is done)")
        print(campaign_text.plan_text(planned, campaign.recorded_seconds(args.results_dir)))
        return 0
    outcome = campaign.execute(planned, args.device, args.quick, args.results_dir, args.max_seconds,
                               args.compilation_cache, log=lambda m: say(args, m),
                               estimator=lambda step, todo: campaign.estimate(step, todo, history))
    print(campaign_text.outcome_text(outcome, args.max_seconds, lambda budget: continue_command(args, budget)))
    return 1 if outcome.failed else 0


COMMANDS = {"fetch-data": cmd_fetch_data, "run": cmd_run, "grid": cmd_grid, "summary": cmd_summary,
            "evidence": cmd_evidence, "campaign": cmd_campaign,
            "cluster": cluster_cli.cmd_cluster}


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user's mistake or an interruption is one line and an exit status."""
    args = None
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # scancel, a job's time limit: handled as Ctrl-C
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except Error as error:
        print(f"mnistbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        command = getattr(args, "command", None)
        message = INTERRUPTED.get(command, "interrupted")
        print(f"mnistbench: {message.format(results_dir=getattr(args, 'results_dir', ''))}", file=sys.stderr)
        return INTERRUPTED_STATUS
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
