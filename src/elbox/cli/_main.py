"""The `elbox` command: `elbox train`, `elbox plot RUN`, `elbox eval RUN`."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._options import add_train_arguments, check_options, options_from
from ._run import RunError


def build_parser() -> argparse.ArgumentParser:
    """The parser of the `elbox` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="elbox",
        description="Train a reference VAE on a bundled data set and draw its plots.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser(
        "train",
        help="train a VAE and write a run folder (config, metrics, checkpoints, plots)",
        description=(
            "Train a reference VAE. With no options: an MLP VAE on scikit-learn's 8x8 digits "
            "with cyclical KL annealing, beta 4 and free bits 0.5."
        ),
    )
    add_train_arguments(train)
    plot = commands.add_parser("plot", help="redraw the plots of a run")
    plot.add_argument("run", type=Path, help="the run folder")
    evaluate = commands.add_parser(
        "eval", help="evaluate a run's best checkpoint on its test split"
    )
    evaluate.add_argument("run", type=Path, help="the run folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `elbox` command; returns its exit status (2 for usage errors)."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    from . import _run  # imported after parsing, so `--help` and bad options answer at once

    try:
        if arguments.command == "train":
            options = options_from(arguments)
            problems = check_options(options)
            if problems:
                parser.error("; ".join(problems))
            _run.train(options)
        elif arguments.command == "plot":
            for path in _run.plot_run(arguments.run):
                print(path)
        else:
            analysis, epoch = _run.evaluate_run(arguments.run)
            print(
                f"{arguments.run}: best checkpoint (epoch {epoch}) on the test split: negative "
                f"ELBO {analysis.neg_elbo:.2f} nats (reconstruction {analysis.recon_loss:.2f} + "
                f"KL {analysis.kl:.2f}); active units {analysis.active_units} of "
                f"{analysis.active.size}"
            )
    except RunError as error:
        print(f"elbox {arguments.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
