"""The `elbox` command: `elbox train`, `elbox plot RUN`, `elbox eval RUN`, `elbox study NAME`."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import CommandParser, RunError, run_command
from ._interrupts import Interruptions
from ._options import TrainOptions, add_train_arguments, check_options, given_options

if TYPE_CHECKING:  # _load_run imports JAX: imported only once the options are parsed
    from ._load_run import DataPlace


def build_parser() -> argparse.ArgumentParser:
    """The parser of the `elbox` command and its subcommands."""
    parser = CommandParser(
        prog="elbox",
        description=(
            "Train a reference VAE on a bundled data set or your own data, and draw its plots."
        ),
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    common = CommandParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        help="on an error, print the full traceback instead of one line",
    )
    train = commands.add_parser(
        "train",
        parents=[common],
        help="train a VAE and write a run folder (config, metrics, checkpoints, plots)",
        description=(
            "Train a reference VAE. With no options: an MLP VAE on scikit-learn's 8x8 digits "
            "with cyclical KL annealing, beta 4 and free bits 0.5. Errors are one line on "
            "stderr: exit status 2 for bad options or data, 1 for a fault while running."
        ),
    )
    train.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=(
            "read options from a TOML file (names as the flags', with _ or -), or repeat a "
            "run from its config.json; flags given as well override the file"
        ),
    )
    add_train_arguments(train)
    plot = commands.add_parser("plot", parents=[common], help="redraw the plots of a run")
    plot.add_argument("run", type=Path, help="the run folder")
    _add_data_place(plot)
    evaluate = commands.add_parser(
        "eval",
        parents=[common],
        help="evaluate a run's best checkpoint on its test split",
        description=(
            "Compute the metrics that apply to a run's best checkpoint on its test split: "
            "the negative ELBO, the importance-weighted log-likelihood bound, the active "
            "units and the mutual information for every run, and the disentanglement "
            "scores (MIG, SAP, modularity, DCI, FactorVAE and beta-VAE scores) for a run "
            "on --dataset shapes_grid or dsprites. Prints a table and writes "
            "evaluation.json."
        ),
    )
    evaluate.add_argument("run", type=Path, help="the run folder")
    evaluate.add_argument(
        "--metrics",
        nargs="+",
        metavar="NAME",
        default=None,
        help=(
            "compute only these: neg_elbo, log_likelihood, active_units, "
            "mutual_information, mig, sap, modularity, dci, factor_vae, beta_vae "
            "(default: all that apply)"
        ),
    )
    evaluate.add_argument(
        "--num-samples",
        type=int,
        default=1000,
        metavar="K",
        help="importance samples of the log-likelihood bound (default: 1000)",
    )
    evaluate.add_argument(
        "--weights",
        choices=["trained", "ema"],
        default=None,
        help=(
            "evaluate the trained weights or their exponential moving average (default: "
            "the average for a run with --ema-decay)"
        ),
    )
    _add_data_place(evaluate)
    evaluate.add_argument(
        "--examples",
        type=int,
        default=None,
        metavar="N",
        help=(
            "test examples of the log-likelihood bound and the mutual information (default: "
            "the whole test split, at most 10000)"
        ),
    )
    _add_study_parser(commands, common)
    return parser


def _add_data_place(parser: argparse.ArgumentParser) -> None:
    """--data-dir and --no-download, for a command that reads a standard data set."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="FOLDER",
        help=(
            "where the standard data sets are (default: the run's own --data-dir, else "
            "$ELBOX_DATA, else ~/.cache/elbox)"
        ),
    )
    parser.add_argument(
        "--no-download",
        action="store_true",
        help=(
            "never download: a missing file of a standard data set is an error that says "
            "where to put it (also: ELBOX_NO_DOWNLOAD=1)"
        ),
    )


def _add_study_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    study = commands.add_parser(
        "study",
        parents=[common],
        help="train a grid of settings for several seeds and report what each knob does",
        description=(
            "Train every setting of a study for several seeds (the seeds of a setting train "
            "together, as one vmapped step; the convolutional model's, on a CPU, in turn) "
            "and write study.csv (a row per run), paired.csv "
            "(each setting against its reference, seed by seed, with a 95 percent "
            "t-interval), "
            "study.md, study.json and study.png. Studies: collapse "
            "(KL schedules x free bits on the digits), beta (beta, capacity annealing and "
            "beta-TC against disentanglement on the shapes factor grid, or with --dataset "
            "dsprites the published protocol on dSprites), iwae (the importance-weighted "
            "bound at K = 1, 5, 50 with the standard and DReG gradients), grid (--grid "
            "options only). "
            "Errors are one line: exit status 2 for bad options, before any training."
        ),
    )
    study.add_argument("name", metavar="NAME", help="collapse, beta, iwae or grid")
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
    study.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="NAME=COUNT",
        help=(
            "points the disentanglement scores draw, e.g. --budget train=2000,vote_train=5000 "
            "(names: points, train, test, vote_train, vote_eval, variance_points; default: "
            "elbox eval's)"
        ),
    )
    study.add_argument(
        "--dataset",
        default=None,
        metavar="NAME",
        help=(
            "the data set of every run, instead of the study's own (beta: shapes_grid, "
            "shapes_grid_upright or dsprites, which have ground-truth factors)"
        ),
    )
    _add_data_place(study)
    study.add_argument("--resume", action="store_true", help="continue the study in --output")
    study.add_argument("--overwrite", action="store_true", help="replace the study in --output")


def _train_options(arguments: argparse.Namespace) -> tuple[TrainOptions, dict[str, Any]]:
    """The options of `elbox train`, and those chosen explicitly: the flags, over a
    `--config` file, over (with `--resume`) the options the run was started with.

    Raises:
        RunError: for a config file (or a resumed run's config.json) that cannot be read.
    """
    from ._config_file import read_config_file
    from ._resume import recorded_options

    given = given_options(arguments)
    if arguments.config is not None:
        given = {**read_config_file(arguments.config), **given}
    if given.get("resume") and given.get("output") is not None:
        # A resumed run continues with its own options; flags given now override them.
        given = {**recorded_options(given["output"]), **given}
    return TrainOptions(**given), given


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `elbox` command; returns its exit status (2 for a user's mistake, 1 for a
    fault at run time, 130 or 143 when interrupted by SIGINT or SIGTERM)."""
    interruptions = Interruptions()
    interruptions.install()
    try:
        return _run(argv, interruptions)
    finally:
        interruptions.uninstall()


def _run(argv: Sequence[str] | None, interruptions: Interruptions) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    command = arguments.command
    if command == "train":
        # Contradictory flags answer at once, before anything is read or made.
        try:
            options, given = _train_options(arguments)
        except RunError as error:
            parser.exit(2, f"elbox train: error: {error}\n")
        problems = check_options(options, given)
        if problems:
            parser.exit(2, f"elbox train: error: {'; '.join(problems)}\n")
    for name in ("num_samples", "examples"):
        value = getattr(arguments, name, None)
        if command == "eval" and value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            parser.exit(2, f"elbox eval: error: {flag} must be >= 1; got {value}\n")

    # The commands are imported after parsing, so `--help` and bad options answer at once.
    def action() -> None:
        interruptions.check()  # a signal that arrived while starting
        if command == "train":
            from ._train import train

            train(options, given, interruptions=interruptions)
        elif command == "study":
            _study(arguments, argv)
        elif command == "plot":
            from ._plot_run import plot_run

            for path in plot_run(arguments.run, place=_place(arguments)):
                print(path)
        else:
            from ._evaluation import EVALUATION_FILE, evaluate_run, table

            record = evaluate_run(
                arguments.run,
                arguments.metrics,
                num_samples=arguments.num_samples,
                place=_place(arguments),
                weights=arguments.weights,
                examples=arguments.examples,
            )
            print(
                f"{arguments.run}: best checkpoint (epoch {record['checkpoint_epoch']}) on the "
                f"test split ({record['num_examples']} examples)"
            )
            for line in table(record):
                print(line)
            print(f"  written to {arguments.run / EVALUATION_FILE}")

    return run_command(command, action, debug=arguments.debug)


def _place(arguments: argparse.Namespace) -> "DataPlace | None":
    """Where eval and plot find the run's standard data set, as `--data-dir` and
    `--no-download` say (None when neither is given)."""
    if arguments.data_dir is None and not arguments.no_download:
        return None
    from ._load_run import DataPlace

    return DataPlace(arguments.data_dir, arguments.no_download)


def _study(arguments: argparse.Namespace, argv: Sequence[str] | None) -> None:
    from ._study import plan_study, prepare_folder, run_study

    plan = plan_study(
        arguments.name,
        seeds=arguments.seeds,
        epochs=arguments.epochs,
        grid=arguments.grid,
        output=arguments.output,
        budget=arguments.budget,
        dataset=arguments.dataset,
        data_dir=arguments.data_dir,
        no_download=arguments.no_download,
    )
    words = sys.argv[1:] if argv is None else list(argv)
    rows, run = prepare_folder(
        plan,
        resume=arguments.resume,
        overwrite=arguments.overwrite,
        command=" ".join(["elbox", *words]),
    )
    path = run_study(plan, rows, run)
    print(f"elbox study {plan.spec.name}: {path}")
