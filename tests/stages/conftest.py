"""The outbox's wall clock for the delivering stages' tests: ``clock.advance(minutes=5)`` lets time pass."""

from __future__ import annotations

import pytest

from tests.stages.delivery_support import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
