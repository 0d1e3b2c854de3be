#!/usr/bin/env python3
"""Grouping accuracy of ``aimon fingerprint`` on the Loghub 2k samples.

Feeds the ``Content`` column of every ``*_2k.log_structured.csv`` in the evaluation folder, one message a line, to
``aimon fingerprint --format text --jsonl`` (the real CLI, in a subprocess) and scores grouping accuracy (GA) the way
logpai/logparser's evaluator does: a line counts as correct only when the predicted group it falls in holds exactly
the lines of its ground-truth template. Prints one row per system and the mean; exits 1 when the mean is below the
bar, 0 otherwise (also when the folder is absent: there is nothing to measure).

Usage: scripts/eval_grouping.py [FOLDER] [--min 0.90] [--in-process]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent.parent / "shared" / "evaldata" / "loghub-dev"
SUFFIX = "_2k.log_structured.csv"


def grouping_accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of lines whose predicted group is exactly the set of lines of their ground-truth group."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} ground-truth labels but {len(predicted)} predictions")
    if not truth:
        return 0.0
    truth_sizes = Counter(truth)
    members: dict[str, list[str]] = defaultdict(list)
    for label, group in zip(truth, predicted, strict=True):
        members[group].append(label)
    correct = 0
    for labels in members.values():
        distinct = set(labels)
        if len(distinct) == 1 and truth_sizes[labels[0]] == len(labels):
            correct += len(labels)
    return correct / len(truth)


def load_system(path: Path) -> tuple[list[str], list[str]]:
    """The messages and their ground-truth event ids of one structured CSV."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["Content"] for row in rows], [row["EventId"] for row in rows]


def predict_cli(messages: Sequence[str]) -> list[str]:
    """Fingerprints of ``messages`` from the real CLI, run as a subprocess."""
    payload = "".join(message.replace("\n", " ") + "\n" for message in messages).encode()
    done = subprocess.run(
        [sys.executable, "-m", "aimon", "fingerprint", "-", "--format", "text", "--jsonl"],
        input=payload,
        capture_output=True,
        check=True,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return [row["fingerprint"] for row in rows]


def predict_in_process(messages: Sequence[str]) -> list[str]:
    """Fingerprints of ``messages`` from the same function the CLI calls (no subprocess)."""
    import io

    from aimon.config import load_settings
    from aimon.tools.fingerprint import fingerprint_stream

    payload = "".join(message.replace("\n", " ") + "\n" for message in messages).encode()
    rows = fingerprint_stream(io.BytesIO(payload), "text", load_settings())
    return [row["fingerprint"] for row in rows]


def evaluate(folder: Path, *, in_process: bool = False) -> dict[str, float]:
    """GA per system (named by file prefix) for every structured CSV in ``folder``."""
    predict = predict_in_process if in_process else predict_cli
    scores: dict[str, float] = {}
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        messages, truth = load_system(path)
        scores[path.name[: -len(SUFFIX)]] = grouping_accuracy(truth, predict(messages))
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--min", type=float, default=0.90, help="least acceptable mean GA")
    parser.add_argument("--in-process", action="store_true", help="call the core function instead of the CLI")
    args = parser.parse_args(argv)
    if not args.folder.is_dir() or not any(args.folder.glob(f"*{SUFFIX}")):
        print(f"skipped: no *{SUFFIX} in {args.folder}")
        return 0
    scores = evaluate(args.folder, in_process=args.in_process)
    width = max(len(name) for name in scores)
    for name, score in scores.items():
        print(f"{name:<{width}}  {score:.4f}")
    mean = sum(scores.values()) / len(scores)
    print(f"{'mean':<{width}}  {mean:.4f}")
    if mean < args.min:
        print(f"below the bar: mean GA {mean:.4f} < {args.min:.2f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
