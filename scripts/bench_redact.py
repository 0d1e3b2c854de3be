#!/usr/bin/env python3
"""Redaction benchmark: recall per secret class and the false-positive rate on look-alikes, over the corpus in
``tests/redact/corpus.py`` (the suite runs the same corpus against the same bounds), and the time to redact a
6,000-token prompt (median of runs).

    .venv/bin/python scripts/bench_redact.py [--runs 30]

Exits 1 when recall is under 99 % or more than 2 % of the look-alikes are altered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aimon.redact import Redactor, redact_text  # noqa: E402
from tests.redact import corpus  # noqa: E402

MIN_RECALL = 0.99
MAX_FALSE_POSITIVES = 0.02
PROMPT_TOKENS = 6000
CHARS_PER_TOKEN = 4  # the estimate the LLM budget uses


def prompt_text(tokens: int = PROMPT_TOKENS) -> str:
    """A diagnosis-sized prompt: tracing lines, a source snippet, look-alikes and about one planted secret in ten lines."""
    lines: list[str] = []
    planted = [case.text.replace("\n", " ") for case in corpus.cases()]
    negatives = [text.replace("\n", " ") for _, text in corpus.NEGATIVES]
    index = 0
    while sum(len(line) + 1 for line in lines) < tokens * CHARS_PER_TOKEN:
        record = {"timestamp": f"2026-03-02T10:15:{index % 60:02d}.000Z", "level": "INFO", "target": "shop::api",
                  "fields": {"message": negatives[index % len(negatives)], "request_id": f"4f1c2a9e-1b2c-4d5e-8f90-{index:012d}"},
                  "span": {"name": "request", "method": "POST", "uri": "/api/orders"}}
        lines.append(f"[T{index}] " + json.dumps(record))
        if index % 10 == 0:
            lines.append(f"[E{index}] ERROR shop::db: {planted[index % len(planted)]} at src/orders.rs:{index}:7")
        index += 1
    return "\n".join(lines)


def time_prompt(runs: int) -> tuple[float, int]:
    """Median milliseconds to redact one prompt with a fresh redactor, and the prompt's length."""
    text = prompt_text()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        Redactor().redact(text)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), len(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs of the prompt (the median is shown)")
    args = parser.parse_args()
    score = corpus.score(redact_text)
    print(f"{'class':<24} {'caught':>7} {'planted':>8} {'recall':>7}")
    for cls in sorted(score.planted):
        caught, planted = score.caught.get(cls, 0), score.planted[cls]
        print(f"{cls:<24} {caught:>7} {planted:>8} {caught / planted:>7.1%}")
    values = sum(len(case.secrets) for case in corpus.cases())
    print(f"\nplanted: {values} values in {len(score.planted)} classes, each checked as written and inside a JSON-encoded "
          f"log line ({sum(score.planted.values())} checks)")
    print(f"recall: {score.recall:.2%} (bound >= {MIN_RECALL:.0%})")
    print(f"false positives: {len(score.altered)} of {score.negatives} look-alikes altered = {score.false_positive_rate:.2%} "
          f"(bound <= {MAX_FALSE_POSITIVES:.0%})")
    for cls, secret, _ in score.missed:
        print(f"  missed [{cls}] {secret[:12]}…")
    for cls, text, out in score.altered:
        print(f"  altered [{cls}] {text!r} -> {out!r}")
    median, size = time_prompt(args.runs)
    print(f"6k-token prompt ({size:,} chars): median {median:.2f} ms over {args.runs} runs (target < 20 ms)")
    return 0 if score.recall >= MIN_RECALL and score.false_positive_rate <= MAX_FALSE_POSITIVES else 1


if __name__ == "__main__":
    sys.exit(main())
