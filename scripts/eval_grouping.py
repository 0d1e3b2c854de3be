#!/usr/bin/env python3
"""Grouping benchmark: grouping accuracy of ``aimon fingerprint`` per system, with Drain3 beside it in the same run.

Reads every ``*_structured.csv`` of a Loghub-format folder (columns ``Content``, the message, and ``EventId``, its
ground-truth template), feeds the messages, one a line, to ``aimon fingerprint --format text --jsonl`` (the real CLI in
a subprocess, or with ``--in-process`` the function it calls) and to Drain3 as the reference parser, and scores
grouping accuracy (GA) the way logpai/logparser's evaluator does: a line counts as correct only when the predicted
group it falls in holds exactly the lines of its ground-truth template.

Drain3 runs with its published defaults (similarity 0.4, depth 4) and the generic masks of its own example
configuration (IPs, hex, numbers, id sequences): one configuration for every system, as aimon has. It is a reference
only (``pip install '.[bench]'``); without it the column says ``-``.

Prints one row per system (GA of aimon, of Drain3, the seconds aimon took: with the CLI, its whole process) and the
means; exits 1 when aimon's mean is below ``--min``, 0 otherwise (also when the folder holds no data: there is
nothing to measure).

Usage: scripts/eval_grouping.py [FOLDER] [--min 0.97] [--in-process] [--no-drain3]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent.parent / "shared" / "evaldata" / "loghub-dev"
SUFFIX = "_structured.csv"
# The generic masks of Drain3's example configuration (its `drain3.ini`), less the one written for a single log.
DRAIN3_MASKS = (
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
)

Predict = Callable[[Sequence[str]], list[str]]


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


def system_name(path: Path) -> str:
    """``HDFS`` for ``HDFS_2k.log_structured.csv`` (and for ``HDFS.log_structured.csv``)."""
    name = path.name[: -len(SUFFIX)]
    for tail in ("_2k.log", ".log"):
        if name.endswith(tail):
            return name[: -len(tail)]
    return name


def load_system(path: Path) -> tuple[list[str], list[str]]:
    """The messages and their ground-truth event ids of one structured CSV."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["Content"] for row in rows], [row["EventId"] for row in rows]


def _payload(messages: Sequence[str]) -> bytes:
    return "".join(message.replace("\r", " ").replace("\n", " ") + "\n" for message in messages).encode()


def predict_cli(messages: Sequence[str]) -> list[str]:
    """Fingerprints of ``messages`` from the real CLI, run as a subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "aimon", "fingerprint", "-", "--format", "text", "--jsonl"],
        input=_payload(messages),
        capture_output=True,
        check=True,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return [row["fingerprint"] for row in rows]


def predict_in_process(messages: Sequence[str]) -> list[str]:
    """Fingerprints of ``messages`` from the same function the CLI calls (no subprocess)."""
    from aimon.config import load_settings
    from aimon.tools.fingerprint import fingerprint_stream

    rows = fingerprint_stream(io.BytesIO(_payload(messages)), "text", load_settings())
    return [row["fingerprint"] for row in rows]


def drain3_available() -> bool:
    """Whether the reference parser is installed."""
    try:
        import drain3  # noqa: F401
    except ImportError:
        return False
    return True


def predict_drain3(messages: Sequence[str]) -> list[str]:
    """Drain3's cluster of every message, after it has seen them all (its clusters keep their id as they widen)."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.masking_instructions = [MaskingInstruction(pattern, name) for pattern, name in DRAIN3_MASKS]
    miner = TemplateMiner(config=config)
    ids = [miner.add_log_message(message)["cluster_id"] for message in messages]
    return [str(cluster) for cluster in ids]


def evaluate(folder: Path, *, in_process: bool = False) -> dict[str, float]:
    """aimon's GA per system for every structured CSV in ``folder``."""
    return {name: row["aimon"] for name, row in benchmark(folder, in_process=in_process, drain3=False).items()}


def benchmark(folder: Path, *, in_process: bool = False, drain3: bool = True) -> dict[str, dict[str, float]]:
    """Per system: ``aimon`` GA, ``seconds`` aimon took, and ``drain3`` GA when asked for and installed."""
    predict: Predict = predict_in_process if in_process else predict_cli
    with_drain3 = drain3 and drain3_available()
    results: dict[str, dict[str, float]] = {}
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        messages, truth = load_system(path)
        started = time.perf_counter()
        predicted = predict(messages)
        row = {"aimon": grouping_accuracy(truth, predicted), "seconds": time.perf_counter() - started}
        if with_drain3:
            row["drain3"] = grouping_accuracy(truth, predict_drain3(messages))
        results[system_name(path)] = row
    return results


def render(results: dict[str, dict[str, float]]) -> list[str]:
    """The table: one row per system, then the means."""
    width = max(len("mean"), *(len(name) for name in results))
    lines = [f"{'system':<{width}}  {'aimon':>6}  {'drain3':>6}  {'aimon s':>7}"]
    for name, row in results.items():
        lines.append(f"{name:<{width}}  {row['aimon']:>6.4f}  {_cell(row.get('drain3'))}  {row['seconds']:>7.3f}")
    means = {key: _mean(results, key) for key in ("aimon", "drain3", "seconds")}
    seconds = means["seconds"] or 0.0
    lines.append(f"{'mean':<{width}}  {means['aimon'] or 0.0:>6.4f}  {_cell(means['drain3'])}  {seconds:>7.3f}")
    return lines


def _cell(value: float | None) -> str:
    return f"{value:>6.4f}" if value is not None else f"{'-':>6}"


def _mean(results: dict[str, dict[str, float]], key: str) -> float | None:
    values = [row[key] for row in results.values() if key in row]
    return sum(values) / len(values) if values else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--min", type=float, default=0.97, help="least acceptable mean GA of aimon")
    parser.add_argument("--in-process", action="store_true", help="call the core function instead of the CLI")
    parser.add_argument("--no-drain3", action="store_true", help="leave the reference parser out")
    args = parser.parse_args(argv)
    if not args.folder.is_dir() or not any(args.folder.glob(f"*{SUFFIX}")):
        print(f"skipped: no *{SUFFIX} in {args.folder}")
        return 0
    if not args.no_drain3 and not drain3_available():
        print("drain3 is not installed (pip install '.[bench]'): its column is left empty", file=sys.stderr)
    results = benchmark(args.folder, in_process=args.in_process, drain3=not args.no_drain3)
    print("\n".join(render(results)))
    mean = _mean(results, "aimon") or 0.0
    if mean < args.min:
        print(f"below the bar: mean GA {mean:.4f} < {args.min:.2f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
