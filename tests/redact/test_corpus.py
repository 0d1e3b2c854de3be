"""The redaction benchmark's corpus as a test: the bounds of ``scripts/bench_redact.py``, without its timing."""

from __future__ import annotations

import json

from aimon.redact import redact_text
from tests.redact import corpus


def test_the_corpus_is_as_broad_as_promised() -> None:
    planted = corpus.cases()
    assert sum(len(case.secrets) for case in planted) >= 150
    assert len({case.cls for case in planted}) >= 35
    assert len(corpus.NEGATIVES) >= 80
    assert any("\n" in case.text for case in planted) and any("\\n" in case.text for case in planted)


def test_recall_is_at_least_99_percent_and_look_alikes_stay_as_they_are() -> None:
    score = corpus.score(redact_text)
    missed = [(cls, out[:160]) for cls, _, out in score.missed]
    altered = [(cls, text, out) for cls, text, out in score.altered]
    assert score.recall >= 0.99, missed
    assert score.false_positive_rate <= 0.02, altered


def test_every_class_is_caught_at_least_once() -> None:
    score = corpus.score(redact_text)
    assert {cls for cls, count in score.caught.items() if count} == set(score.planted)


def test_a_json_log_line_stays_valid_json_after_redaction() -> None:
    """A span never splits an escape or swallows a closing quote: the line the LLM or GitHub gets still parses."""
    broken = []
    for case in corpus.positives():
        out = redact_text(case.text)
        if case.text.startswith("{"):
            try:
                json.loads(out)
            except ValueError:
                broken.append((case.cls, out[:200]))
    assert broken == []
