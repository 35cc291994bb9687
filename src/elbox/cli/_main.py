"""The `elbox` command: `elbox train`, `elbox plot RUN`, `elbox eval RUN`."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._options import add_train_arguments, check_options, options_from
from ._run import RunError
from ._study import StudyError


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
    study = commands.add_parser(
        "study",
        help="train a grid of settings for several seeds and report what each knob does",
        description=(
            "Train every setting of a study for several seeds (the seeds of a setting train "
            "together, as one vmapped step) and write study.csv (a row per run), study.md "
            "(mean and standard deviation over seeds) and study.png. Studies: collapse "
            "(KL schedules x free bits on the digits), beta (beta against disentanglement "
            "on the shapes factor grid), grid (--grid options only)."
        ),
    )
    study.add_argument("name", metavar="NAME", help="collapse, beta or grid")
    study.add_argument("--seeds", type=int, default=3, help="seeds per setting (default: 3)")
    study.add_argument(
        "--epochs", type=int, default=None, help="epochs per run (default: the study's own)"
    )
    study.add_argument(
        "--output", type=Path, default=None, help="the study folder (default: studies/NAME)"
    )
    study.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help=(
            "an axis over any `elbox train` option, e.g. --grid beta=1,4,16; replaces the "
            "study's axis of that option or adds one (repeatable)"
        ),
    )
    study.add_argument("--resume", action="store_true", help="continue the study in --output")
    study.add_argument("--overwrite", action="store_true", help="replace the study in --output")
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
        elif arguments.command == "study":
            _study(arguments, argv)
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
    except (RunError, StudyError) as error:
        print(f"elbox {arguments.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


def _study(arguments: argparse.Namespace, argv: Sequence[str] | None) -> None:
    from ._study import plan_study, prepare_folder, run_study

    plan = plan_study(
        arguments.name,
        seeds=arguments.seeds,
        epochs=arguments.epochs,
        grid=arguments.grid,
        output=arguments.output,
    )
    words = sys.argv[1:] if argv is None else list(argv)
    rows, command = prepare_folder(
        plan,
        resume=arguments.resume,
        overwrite=arguments.overwrite,
        command=" ".join(["elbox", *words]),
    )
    path = run_study(plan, rows, command=command)
    print(f"elbox study {plan.spec.name}: {path}")
