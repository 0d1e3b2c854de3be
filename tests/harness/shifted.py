"""Run the aimon CLI with its wall clock moved forward by ``SHIFTED_CLOCK_SECONDS`` seconds.

The crash suite's final run uses it to stand for "a few minutes later": a delivery claimed by a process that was killed
is leased for :data:`aimon.stages.delivery.LEASE` seconds before another run may retry it, and this is how the suite lets
that time pass without sleeping. The clock is handed to the entry point (its ``Runtime``); nothing is patched.

    python tests/harness/shifted.py run --json
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from aimon.clock import utcnow
from aimon.runtime import Runtime

SHIFT = timedelta(seconds=float(os.environ.get("SHIFTED_CLOCK_SECONDS", "0")))


def shifted() -> datetime:
    return utcnow() + SHIFT


if __name__ == "__main__":
    from aimon.cli.app import main

    main(Runtime(clock=shifted))
