"""The command line's words: every command of ``python -m mnistbench`` and its options.

``build_parser`` only describes what may be typed; ``cli`` checks the values
against each other and the machine, and runs the command.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from .bench import variants
from .bench.evidence import items as evidence
from .bench.session import FULL, QUICK
from .checks import number, positive_int, positive_seconds, seed_int
from .cluster import cli as cluster_cli
from .errors import UserError
from .networks.config import PRECISIONS, Config

DEFAULT_RESULTS = Path("results")
ADHOC_RESULTS = Path("adhoc-results")  # git-ignored: single runs stay out of the committed studies


class Parser(argparse.ArgumentParser):
    def parse_known_args(self, args=None, namespace=None):
        self.words = list(sys.argv[1:] if args is None else args)  # to name a mistyped option in error()
        return super().parse_known_args(args, namespace)

    def error(self, message):  # one line, no usage dump
        options = [word.split("=")[0] for word in getattr(self, "words", []) if word.startswith("--")]
        unknown = [option for option in options if option not in self._option_string_actions]
        if unknown and message.startswith("the following arguments are required"):  # the typo is the cause
            close = difflib.get_close_matches(unknown[0], self._option_string_actions, n=1)
            message = f"unknown option {unknown[0]}" + (f" (did you mean {close[0]}?)" if close else "")
        raise UserError(message)


# --- the parser -----------------------------------------------------------------------


DEVICES = ("auto", "cpu", "gpu")  # auto: the GPU where every framework of the command sees one


def add_common(parser: argparse.ArgumentParser, results: Path | None, data: bool = True) -> None:
    if results is not None:
        parser.add_argument("--results-dir", type=Path, default=results,
                            help="folder of result records (default: %(default)s)")
    if data:
        parser.add_argument("--data-dir", type=Path, default=None,
                            help="MNIST folder (default: $MNISTBENCH_DATA, else data/ in the project folder)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")


def add_training(parser: argparse.ArgumentParser) -> None:
    defaults = Config()
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where to train (default: the GPU if there is one)")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.matmul_precision,
                        help="float32 matmul precision in both frameworks (default: %(default)s)")
    parser.add_argument("--learning-rate", type=number, default=defaults.learning_rate,
                        help="SGD learning rate (default: %(default)s)")
    parser.add_argument("--momentum", type=number, default=defaults.momentum,
                        help="heavy-ball momentum (default: %(default)s)")
    parser.add_argument("--train-subset", type=positive_int, default=None, metavar="N",
                        help="train on the first N training images only (smoke tests; marked in tables)")
    add_cache(parser)


def add_cache(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compilation-cache", type=Path, default=None, metavar="DIR",
                        help="keep JAX's and torch.compile's compiled programs in DIR (default: none, a cold start)")


def build_parser() -> Parser:
    parser = Parser(prog="mnistbench", description="Train the same MLP on MNIST in JAX and in PyTorch, "
                    "time both honestly, and measure why they differ.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    fetch = commands.add_parser("fetch-data", help="download and verify MNIST")
    what = fetch.add_mutually_exclusive_group()
    what.add_argument("--force", action="store_true", help="fetch all four files again (repairs a damaged set)")
    what.add_argument("--check", action="store_true", help="only check the four files in the folder; fetch nothing")
    add_common(fetch, results=None)

    run = commands.add_parser("run", help="one training run in this process; writes one record")
    run.add_argument("--framework", choices=variants.FRAMEWORKS, required=True)
    run.add_argument("--variant", default=None, choices=variants.all_names(), metavar="NAME",
                     help="how the loop is written (default: jit for JAX, eager for PyTorch); "
                          f"one of {', '.join(variants.all_names())}")
    run.add_argument("--batch-size", type=positive_int, default=Config().batch_size,
                     help="examples per step (default: %(default)s)")
    run.add_argument("--epochs", type=positive_int, default=Config().epochs, help="epochs (default: %(default)s)")
    run.add_argument("--seed", type=seed_int, default=Config().seed,
                     help="seed of the initial weights and the batch order (default: %(default)s)")
    add_training(run)
    add_common(run, results=ADHOC_RESULTS)

    grid = commands.add_parser("grid", help="the whole study, each run in a fresh process")
    grid.add_argument("--quick", action="store_true",
                      help=f"the quick study: {QUICK.epochs} epochs, seeds {' '.join(map(str, QUICK.seeds))}, batch "
                           f"sizes {' '.join(map(str, QUICK.batch_sizes))}, the first {QUICK.train_subset} images")
    grid.add_argument("--force", action="store_true", help="redo runs that are already recorded")
    grid.add_argument("--frameworks", nargs="+", choices=variants.FRAMEWORKS, default=list(variants.FRAMEWORKS),
                      help="default: both")
    grid.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                      help="variants to run, for every framework that has them (default: each framework's "
                           "default; 'all': every variant the device supports)")
    grid.add_argument("--batch-sizes", nargs="+", type=positive_int, default=None,
                      help=f"default: {' '.join(map(str, FULL.batch_sizes))}")
    grid.add_argument("--seeds", nargs="+", type=seed_int, default=None,
                      help=f"default: {' '.join(map(str, FULL.seeds))}")
    grid.add_argument("--epochs", type=positive_int, default=None, help=f"default: {FULL.epochs}")
    add_training(grid)
    add_common(grid, results=DEFAULT_RESULTS)

    summary = commands.add_parser("summary", help="print the results table")
    summary.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS,
                         help="the folder of records, read with its subfolders (default: %(default)s)")
    summary.add_argument("--all", action="store_true", help="every study, not only the report's")

    item = commands.add_parser("evidence", help="measure why the frameworks differ (see README)")
    item.add_argument("names", nargs="+", choices=(*evidence.NAMES, "all"), metavar="NAME",
                      help=f"one or more of: {', '.join(evidence.NAMES)}, all")
    item.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS / "evidence",
                      help="where evidence records go (default: %(default)s)")
    item.add_argument("--device", choices=DEVICES, default="auto", help="auto: the GPU if there is one (default)")
    item.add_argument("--quick", action="store_true", help="fewer batch sizes and steps (CPU-sized)")
    add_common(item, results=None, data=False)

    campaign = commands.add_parser("campaign", help="everything the report needs from one device, within a budget")
    campaign.add_argument("--device", choices=DEVICES[1:], required=True, help="the device whose study this is")
    campaign.add_argument("--results-dir", type=Path, required=True, help="where the study goes")
    campaign.add_argument("--quick", action="store_true", help="a small plan that exercises every kind of step")
    campaign.add_argument("--max-seconds", type=positive_seconds, default=None, metavar="S",
                          help="stop cleanly before a step that would end past S seconds")
    campaign.add_argument("--dry-run", action="store_true", help="print the plan with states and estimates")
    campaign.add_argument("--json", action="store_true",
                          help="with --dry-run: the plan as JSON (steps, and how many are done, to do, blocked)")
    add_common(campaign, results=None)
    add_cache(campaign)

    cluster_cli.add_parser(commands)
    return parser
