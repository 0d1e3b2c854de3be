"""What README's quick start says the demo prints is what it prints.

The demo's command line is read from ``scripts/demo`` itself (its environment and its ``aimon run`` arguments) and run
as a whole process, offline; each claim of the quick start is then checked against the output.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def demo_command(state: Path) -> tuple[dict[str, str], list[str]]:
    """The environment and the arguments ``scripts/demo`` runs ``aimon`` with (``$state``: its throwaway folder)."""
    script = (ROOT / "scripts" / "demo").read_text(encoding="utf-8")
    call = script.split("env -u", 1)[1].replace("\\\n", " ")
    words = shlex.split("-u" + call.split("\n", 1)[0])
    env = {key: value for key, value in os.environ.items()
           if key not in {"OPENAI_API_KEY", "DISCORD_WEBHOOK_URL", "GITHUB_TOKEN"} and not key.startswith("AIMON_")}
    args: list[str] = []
    for index, word in enumerate(words):
        if word.endswith("/aimon"):
            args = words[index + 1:]
            break
        if "=" in word and not word.startswith("-"):
            key, value = word.split("=", 1)
            env[key] = value
    return env, [arg.replace("$state", str(state)) for arg in args if arg != "$@"]


def test_the_demo_prints_what_the_quick_start_says(tmp_path: Path) -> None:
    env, args = demo_command(tmp_path)
    assert args[:2] == ["run", "--dry-run"] and "--log" in args
    result = subprocess.run([sys.executable, "-m", "aimon", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout

    # "the groups found in scripts/sample/app.log (a shop service with a connection-pool storm, a checkout panic,
    # an upstream 503 and a unique-constraint violation)": four, each its own root cause
    assert args[args.index("--log") + 1] == "scripts/sample/app.log"
    scan = out.split("diagnose ok", 1)[0]
    assert "4 error groups" in scan
    for shape in ("connection from the pool", "PANIC", "Service Unavailable", "unique constraint"):
        assert shape in scan, shape
    # "the offline diagnosis of each"
    diagnose = out.split("diagnose ok", 1)[1].split("notify ok", 1)[0]
    assert len(re.findall(r"^[0-9a-f]{16}  (?:LOW|MEDIUM|HIGH|CRITICAL)  ", diagnose, re.MULTILINE)) == 4
    assert diagnose.count("heuristic · confidence") == 4
    # "the Discord payload and the GitHub issues that would be sent"
    assert "Would send" in out.split("notify ok", 1)[1].split("open-issue ok", 1)[0]
    issues = out.split("open-issue ok", 1)[1].split("autofix ok", 1)[0]
    filed = re.findall(r"new issue for ([0-9a-f]{16})", issues)
    skipped = re.findall(r"skipped: ([0-9a-f]{16}) .* below AIMON_ISSUE_MIN_SEVERITY", issues)
    assert len(filed) == 3 and len(skipped) == 1  # "the low-severity error is below the issue threshold and says so"
    # "autofix's verdict on the error its diagnosis calls auto-fixable (offline it only says why it would not patch)"
    autofix = out.split("autofix ok", 1)[1]
    assert re.search(r"^[0-9a-f]{16} (?:ineligible|refused): ", autofix, re.MULTILINE)
    assert "nothing is pushed" in autofix
    assert "no state changes" in out and not any(tmp_path.iterdir())  # a dry run: the throwaway state is not written
