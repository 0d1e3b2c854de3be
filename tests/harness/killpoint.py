"""Run the aimon CLI and SIGKILL it at a named point: the crash suite's deterministic complement to random kills.

    python tests/harness/killpoint.py POINT run --json

Points (``SHIFTED_CLOCK_SECONDS`` moves the outbox clock as in ``shifted.py``):

- ``before-merge`` / ``after-merge`` — when learned grouping is about to merge fingerprints, or has just merged them
  (:func:`aimon.grouping.learned.learn_merges`), before the scan's batch that taught it is committed with it;
- ``after-discord-post`` — right after Discord accepted an alert, before the outbox recorded it: the one window where
  a duplicate alert is accepted (DESIGN.md, principle 1);
- ``after-issue-create`` — right after GitHub created an issue, before the outbox recorded it: the next run must find
  it by its marker instead of filing a second one.

The process kills itself with SIGKILL, as the OOM killer or a ``kill -9`` would: no ``finally``, no atexit, no flush.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import tests.harness.shifted  # noqa: F401 - the clock shift, when asked


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(owner: Any, name: str, when: Callable[[Any], bool]) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if when(result):
            _die()
        return result

    setattr(owner, name, wrapper)


def _before(owner: Any, name: str) -> None:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _die()

    setattr(owner, name, wrapper)


def arm(point: str) -> None:
    if point == "before-merge":
        import aimon.grouping.learned

        _before(aimon.grouping.learned, "learn_merges")
    elif point == "after-merge":
        import aimon.grouping.learned

        _after(aimon.grouping.learned, "learn_merges", bool)
    elif point == "after-discord-post":
        from aimon.remotes.discord import Webhook

        _after(Webhook, "post", lambda reply: reply.kind == "ok")
    elif point == "after-issue-create":
        from github.Repository import Repository

        _after(Repository, "create_issue", lambda issue: True)
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    arm(sys.argv[1])
    from aimon.cli.app import app

    app(sys.argv[2:])
