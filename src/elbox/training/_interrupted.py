"""The error `Trainer.fit` ends with when it is interrupted (`request_interrupt`)."""


class FitInterruptedError(Exception):
    """`Trainer.fit` stopped before its end because `request_interrupt` was called (a
    signal handler calls it on SIGINT or SIGTERM).

    The loop stopped after a finished step and ran every callback's `on_interrupt`:
    `ModelCheckpoint` saved that step's state, so `fit(..., resume=True)` continues from
    it, mid-epoch, as if never interrupted.

    Attributes:
        reason: what `request_interrupt` was told, e.g. `"SIGTERM"`.
        step: the number of training steps done.
    """

    def __init__(self, message: str, *, reason: str, step: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.step = step
