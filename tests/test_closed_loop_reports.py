"""After a save fails, tensorstore's late writes report `Event loop is closed` through
`sys.unraisablehook`: the store drops those reports, and only those."""

import asyncio
import sys
from types import SimpleNamespace, TracebackType
from typing import Any, cast

import pytest

from elbox.training._checkpoint import _errors


def _raised(action: Any) -> tuple[BaseException, TracebackType | None]:
    try:
        action()
    except Exception as error:
        return error, error.__traceback__
    raise AssertionError("nothing was raised")


def _report(error: BaseException, trace: TracebackType | None) -> "sys.UnraisableHookArgs":
    return cast(
        "sys.UnraisableHookArgs",
        SimpleNamespace(
            exc_type=type(error), exc_value=error, exc_traceback=trace, err_msg=None, object=None
        ),
    )


def test_only_the_closed_loop_reports_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    passed: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: passed.append(report.exc_value))
    _errors.drop_closed_loop_reports()
    _errors.drop_closed_loop_reports()  # installed once: one wrapper, not two
    hook = sys.unraisablehook
    assert isinstance(hook, _errors._DropClosedLoopReports)

    loop = asyncio.new_event_loop()
    loop.close()
    closed, closed_trace = _raised(lambda: loop.call_soon_threadsafe(print))
    assert str(closed) == "Event loop is closed"
    hook(_report(closed, closed_trace))
    assert passed == []  # the late write's report: dropped

    # The same words raised elsewhere, and any other error, reach the hook from before.
    def elsewhere() -> None:
        raise RuntimeError("Event loop is closed")

    same_words, words_trace = _raised(elsewhere)
    other, other_trace = _raised(lambda: 1 / 0)
    hook(_report(same_words, words_trace))
    hook(_report(other, other_trace))
    assert passed == [same_words, other]
