"""The `elbox train` options of the evaluation a run ends with."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EvaluationOptions:
    """the evaluation at the end of the run"""

    eval_samples: int = dataclasses.field(default=1000, metadata={"metavar": "K"})
    """Importance samples of the log-likelihood bound the run ends with (0: no bound)."""
    eval_examples: int | None = dataclasses.field(default=None, metadata={"metavar": "N"})
    """Test examples of that bound and of the mutual information (default: as many as cost
    about what the training did, 3 x epochs x training examples / K, at least 100, at most
    10000 and the test split)."""


def check_evaluation_options(options: EvaluationOptions) -> list[str]:
    """Out-of-range values of these options, as messages."""
    problems: list[str] = []
    if options.eval_samples < 0:
        problems.append(f"--eval-samples must be >= 0; got {options.eval_samples}")
    if options.eval_examples is not None and options.eval_examples < 2:
        problems.append(f"--eval-examples must be >= 2; got {options.eval_examples}")
    return problems
