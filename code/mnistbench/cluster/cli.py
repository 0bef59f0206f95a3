"""The ``cluster`` command's arguments and output; the work is in submit.py and job.py."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..checks import positive_int, positive_seconds
from ..errors import UserError
from ..mnist_files import fetch_mnist

SLURM_OPTIONS = ("partition", "constraint", "account")  # sbatch options of their own on the command line


def sbatch_option(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (e.g. qos=short)")
    return name.strip().lstrip("-"), value


def add_parser(commands) -> None:
    cluster = commands.add_parser("cluster", help="run a campaign as a SLURM job, requeued until it is done")
    actions = cluster.add_subparsers(dest="action", required=True, parser_class=type(cluster))
    submit = actions.add_parser("submit", help="submit one device's campaign (one GPU type, one results folder)")
    submit.add_argument("--time", type=positive_int, required=True, metavar="MIN",
                        help="each job's time limit in minutes; the job is requeued until the plan is done")
    submit.add_argument("--results-dir", type=Path, required=True, help="the study's folder (one per GPU type)")
    submit.add_argument("--partition", help="SLURM partition (default: the cluster's)")
    submit.add_argument("--constraint", help="SLURM constraint, e.g. the GPU type (a100)")
    submit.add_argument("--account", help="SLURM account to charge")
    submit.add_argument("--setup", action="append", default=[], metavar="CMD",
                        help="a shell line run in the job first, e.g. 'source .venv/bin/activate' (repeatable)")
    submit.add_argument("--device", choices=("gpu", "cpu"), default="gpu", help="default: %(default)s")
    submit.add_argument("--quick", action="store_true", help="the campaign's small plan")
    submit.add_argument("--margin", type=positive_seconds, metavar="S",
                        help="seconds kept free at the end of each job (default: a tenth of --time, 3-10 min)")
    submit.add_argument("--shared-node", action="store_true", help="share the node with other jobs (less exact timing)")
    submit.add_argument("--sbatch", action="append", type=sbatch_option, default=[], metavar="NAME=VALUE",
                        help="any other sbatch option, e.g. qos=short (repeatable)")
    status = actions.add_parser("status", help="the jobs of a results folder, the end of the log, the report")
    status.add_argument("--results-dir", type=Path, required=True)


def submit_command(args) -> str:
    """The command line that submits this request again (to continue after a scancel)."""
    words = ["python", "-m", "mnistbench", "cluster", "submit", "--time", str(args.time),
             "--results-dir", str(args.results_dir), "--device", args.device]
    for name in SLURM_OPTIONS:
        words += [f"--{name}", getattr(args, name)] if getattr(args, name) is not None else []
    words += ["--margin", f"{args.margin:g}"] if args.margin is not None else []
    words += [word for line in args.setup for word in ("--setup", line)]
    words += [word for name, value in args.sbatch for word in ("--sbatch", f"{name}={value}")]
    words += ["--quick"] * args.quick + ["--shared-node"] * args.shared_node
    return shlex.join(words)


def cmd_cluster(args) -> int:
    try:
        from . import submit as cluster
    except ImportError as error:
        if error.name != "submitit":
            raise
        raise UserError("the cluster command needs submitit: pip install 'submitit>=1.5' "
                        "(or pip install -e '.[cluster]')") from None
    if args.action == "status":
        print(cluster.status_text(args.results_dir))
        return 0
    results_dir = args.results_dir.resolve()
    sbatch = [(name, getattr(args, name)) for name in SLURM_OPTIONS if getattr(args, name) is not None]
    request = cluster.Request(results_dir, time_min=args.time, device=args.device, quick=args.quick,
                              setup=tuple(args.setup), margin_s=args.margin, exclusive=not args.shared_node,
                              sbatch=tuple(sbatch + args.sbatch))
    cluster.check_request(request)
    fetch_mnist(log=lambda message: print(message, file=sys.stderr))  # here: compute nodes often have no internet
    print(cluster.instructions(cluster.submit(request, submit_command(args)), results_dir))
    return 0
