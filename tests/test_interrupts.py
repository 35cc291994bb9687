"""Interrupts: a fit stopped after a step saves it and resumes mid-epoch exactly; signals
are held while files and checkpoints are written; the command's handler stops a run
gracefully, and a second signal ends it at once."""

import os
import signal
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from elbox._signals import deferred_signals
from elbox.cli._interrupts import Interrupted, Interruptions
from elbox.training import Callback, FitInterruptedError, MetricsLogger, Trainer, TrainingLoop

from .helpers import params_of
from .resume_worker import build, data

EPOCHS = 3


class _InterruptAt(Callback):
    """Asks the loop to stop once step `step`'s metrics arrive, as a signal handler would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]) -> None:
        if step == self.step:
            assert isinstance(trainer, Trainer)
            trainer.request_interrupt("SIGTERM")


def test_an_interrupted_fit_saves_its_last_step_and_resumes_mid_epoch_exactly(
    tmp_path: Any,
) -> None:
    reference = build("equinox", tmp_path / "reference", MetricsLogger(tmp_path / "a"))
    expected = reference.fit(data(), epochs=EPOCHS)
    # 6 steps per epoch: step 8 is in the second epoch.
    interrupted = build(
        "equinox", tmp_path / "ckpt", MetricsLogger(tmp_path / "b"), _InterruptAt(8)
    )
    with pytest.raises(FitInterruptedError) as error:
        interrupted.fit(data(), epochs=EPOCHS)
    saved = error.value.step
    assert 9 <= saved < 12  # after step 8 and the steps already dispatched; not the epoch end
    assert error.value.reason == "SIGTERM"
    assert sorted(int(p.name) for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit()) == [
        6,
        saved,
    ]
    resumed = build("equinox", tmp_path / "ckpt", MetricsLogger(tmp_path / "b"))
    history = resumed.fit(data(), epochs=EPOCHS, resume=True)
    assert resumed.resumed_from == (1, saved)
    for got, want in zip(
        params_of(resumed.engine.model), params_of(reference.engine.model), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    timing = ("seconds", "steps_per_second")
    assert [{k: v for k, v in e.items() if k not in timing} for e in history.epochs] == [
        {k: v for k, v in e.items() if k not in timing} for e in expected.epochs
    ]
    lines = [(tmp_path / run / "metrics.jsonl").read_text().splitlines() for run in "ab"]
    steps = [[line for line in run if line.startswith('{"kind": "step"')] for run in lines]
    assert steps[0] == steps[1]


@pytest.fixture
def restored_handlers() -> Iterator[None]:
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal_self(signum: int) -> None:
    os.kill(os.getpid(), signum)
    for _ in range(1000):  # Python runs the handler between bytecodes, soon after
        pass


def _held(count: int) -> bool:
    """Send `count` SIGINTs inside a deferred section; whether its end was reached."""
    with deferred_signals():
        for _ in range(count):
            _signal_self(signal.SIGINT)
        return True


@pytest.mark.usefixtures("restored_handlers")
def test_signals_wait_for_the_end_of_a_deferred_section() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    reached: list[bool] = []
    with pytest.raises(KeyboardInterrupt):
        reached.append(_held(1))  # the section ends, then the signal is delivered
    assert reached == []
    with pytest.raises(KeyboardInterrupt) as error:
        _held(1)
    assert any(frame.name == "deferred_signals" for frame in error.traceback)
    # Twice: the second is delivered at once, inside the section.
    with pytest.raises(KeyboardInterrupt) as error:
        _held(2)
    assert any(frame.name == "hold" for frame in error.traceback)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("restored_handlers")
def test_the_commands_handler_raises_requests_and_ends_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    interruptions = Interruptions()
    interruptions.install()
    with pytest.raises(Interrupted) as error:
        _signal_self(signal.SIGTERM)
    assert error.value.signum == signal.SIGTERM
    # While training, a signal asks the loop to stop instead; a second ends the process.
    interruptions = Interruptions()
    interruptions.install()
    requests: list[str] = []
    interruptions.set_graceful(requests.append)
    _signal_self(signal.SIGINT)
    assert requests == ["SIGINT"]
    exits: list[int] = []

    def fake_exit(status: int) -> None:
        exits.append(status)
        raise SystemExit(status)

    monkeypatch.setattr(os, "_exit", fake_exit)
    with pytest.raises(SystemExit):
        _signal_self(signal.SIGINT)
    assert exits == [130]
    assert capsys.readouterr().err == "elbox: SIGINT again: stopped at once\n"
