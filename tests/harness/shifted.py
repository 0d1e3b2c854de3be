"""Run the aimon CLI with the outbox's wall clock moved forward by ``AIMON_TEST_CLOCK_SHIFT`` seconds.

The crash suite's final run uses it to stand for "a few minutes later": a delivery claimed by a process that was killed
is leased for :data:`aimon.stages.delivery.LEASE` seconds before another run may retry it, and this is how the suite lets
that time pass without sleeping. Only the outbox's clock moves; everything else runs unchanged.

    python tests/harness/shifted.py run --json
"""

from __future__ import annotations

import os
from datetime import timedelta

from aimon.stages import delivery as outbox
from aimon.state.db import utcnow

SHIFT = timedelta(seconds=float(os.environ.get("AIMON_TEST_CLOCK_SHIFT", "0")))
outbox.now = lambda: utcnow() + SHIFT

if __name__ == "__main__":
    from aimon.cli.app import main

    main()
