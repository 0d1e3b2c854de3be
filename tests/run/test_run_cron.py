"""``aimon run`` the way cron runs it: the line from crontab.example, in a shell, a new process each tick."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from tests.run.test_run import error_line, incident_log, info_line, write_log

ROOT = Path(__file__).resolve().parents[2]


def cron_command(workdir: Path, output: Path) -> str:
    """The every-minute line of crontab.example, pointed at ``workdir`` and this interpreter."""
    lines = [line for line in (ROOT / "crontab.example").read_text().splitlines() if line.startswith("* * * * * ")]
    assert len(lines) == 1
    command = lines[0].removeprefix("* * * * * ")
    assert command.startswith("cd /srv/aimon && ./.venv/bin/aimon run --env-file /srv/aimon/.env >> ")
    python = f"{shlex.quote(sys.executable)} -m aimon"
    return (
        command.replace("./.venv/bin/aimon", python)
        .replace("/srv/aimon/aimon.log", shlex.quote(str(output)))
        .replace("/srv/aimon", shlex.quote(str(workdir)))
    )


def tick(command: str) -> int:
    # cron's environment is nearly empty: no AIMON_* variable, only what the env file says.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(["/bin/sh", "-c", command], env=env, timeout=120).returncode


def test_the_crontab_line_runs_the_pipeline_tick_after_tick(tmp_path: Path) -> None:
    workdir = tmp_path / "srv"
    workdir.mkdir()
    incident_log(workdir / "app.log")
    (workdir / ".env").write_text("AIMON_LOG_PATHS=app.log\nAIMON_METRICS_FILE=aimon.prom\n")
    output = tmp_path / "aimon.log"
    command = cron_command(workdir, output)

    assert tick(command) == 0
    state = workdir / ".aimon" / "state.db"  # AIMON_DB's default, relative to the directory cron cd'ed into
    conn = sqlite3.connect(state)
    conn.row_factory = sqlite3.Row
    run = conn.execute("SELECT * FROM runs").fetchone()
    assert run["exit_code"] == 0
    summary = json.loads(run["summary"])
    assert summary["stages"]["scan"]["counts"]["lines"] == 24
    assert summary["detections"] == {"new": 1}
    assert "Detections this run: 1 new" in output.read_text()
    assert "aimon_lines_read_total 24.0" in (workdir / "aimon.prom").read_text()

    # a minute later: two new lines, read once
    write_log(
        workdir / "app.log",
        [error_line("db timeout after 77 ms", seconds_ago=1), error_line("db timeout after 78 ms", seconds_ago=0)],
        mode="a",
    )
    assert tick(command) == 0
    runs = conn.execute("SELECT summary FROM runs ORDER BY id").fetchall()
    assert len(runs) == 2
    assert json.loads(runs[1]["summary"])["stages"]["scan"]["counts"]["lines"] == 2
    assert conn.execute("SELECT count FROM fingerprints").fetchone()[0] == 6

    # a tick that starts while another still runs: exits 0 at once, says so in one line, does nothing
    with FileLock(str(state) + ".lock"):
        before = output.read_text()
        assert tick(command) == 0
    added = output.read_text()[len(before) :]
    lock = (workdir / ".aimon" / "state.db.lock").resolve()
    # In the cron log every stderr line says when and where it came from.
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ run: another aimon run is in progress \(lock {re.escape(str(lock))}\); "
                        r"this tick does nothing\n", added), added
    stamped = [line for line in output.read_text().splitlines() if re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line)]
    assert any(" notify: DISCORD_WEBHOOK_URL is not set" in line for line in stamped)  # a stage's notice names it
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2


@pytest.mark.parametrize("configured", [False, True], ids=["unconfigured", "configured"])
def test_an_idle_tick_prints_one_line_and_loads_nothing_it_does_not_use(tmp_path: Path, configured: bool) -> None:
    log = write_log(tmp_path / "app.log", [info_line("request served", 1)])
    code = (
        "import sys\n"
        "from aimon.cli.app import app\n"
        "try:\n"
        f"    app(['run', '--log', {str(log)!r}])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "heavy = ('prometheus_client', 'openai', 'github', 'requests', 'jsonschema', 'rich', 'filelock',\n"
        "         'aimon.model', 'aimon.logs.reader', 'aimon.logs.parsing', 'aimon.grouping.fingerprint',\n"
        "         'aimon.stages.scan.aggregate', 'aimon.redact.shapes', 'aimon.redact.forms', 'aimon.stages.diagnose.running',\n"
        "         'aimon.stages.autofix.passes')\n"
        "print([m for m in heavy if m in sys.modules], file=sys.stderr)\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "AIMON_DB": str(tmp_path / "state.db")}
    if configured:  # nothing is due, so nothing is sent: port 9 (discard) is never asked
        env |= {"DISCORD_WEBHOOK_URL": "http://127.0.0.1:9/api/webhooks/1/not-a-token", "GITHUB_TOKEN": "ghp_not_a_token",
                "AIMON_GITHUB_REPO": "acme/shop", "AIMON_GITHUB_API_URL": "http://127.0.0.1:9", "OPENAI_API_KEY": "sk-not-a-key"}
    first, idle = (subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=120) for _ in range(2))
    assert first.returncode == 0 and idle.returncode == 0, first.stderr + idle.stderr
    # the first tick reads the line (and loads the reader); the next one, with nothing new, loads none of it
    assert idle.stderr.strip().splitlines()[-1] == "[]"
    for result, lines in ((first, "1 line"), (idle, "0 lines")):
        assert re.fullmatch(
            rf"Read {lines}: 0 error groups, detections: none\. Nothing to diagnose, post, file or fix \(scan \d+\.\d\ds, "
            r"diagnose \d+\.\d\ds, notify \d+\.\d\ds, open-issue \d+\.\d\ds, autofix off\)\.\n",
            result.stdout,
        ), result.stdout


def test_the_example_ci_step_gates_on_a_new_error(cli: Any, tmp_path: Path) -> None:
    workflow = (ROOT / "scripts" / "github-actions-aimon.yml").read_text()
    steps = [
        line.strip().removeprefix("run: ")
        for line in workflow.splitlines()
        if line.strip().startswith("run: aimon run ")
    ]
    assert len(steps) == 1
    # aimon is installed from its own repository, never by the bare name (on PyPI that is another project)
    installs = [line.strip() for line in workflow.splitlines() if "pip install" in line]
    assert installs == ['python -m pip install "aimon @ $AIMON_PIP_SPEC"']
    args = shlex.split(steps[0].replace("$RUNNER_TEMP", str(tmp_path / "runner-temp")))[1:]
    assert args[:3] == ["run", "--dry-run", "--log"] and "--fail-on" in args
    incident_log(tmp_path / "test-output.log")
    failing = cli(*args)
    assert failing.exit_code == 3
    assert "--fail-on new: this run detected 1 new (exit code 3)" in failing.stdout
    write_log(
        tmp_path / "test-output.log", ['{"timestamp":"2026-03-01T10:00:00Z","level":"INFO","fields":{"message":"ok"}}']
    )
    assert cli(*args).exit_code == 0
    assert not (tmp_path / "runner-temp").exists()


def test_the_systemd_units_run_the_same_command_every_minute() -> None:
    service = (ROOT / "scripts" / "systemd" / "aimon.service").read_text()
    timer = (ROOT / "scripts" / "systemd" / "aimon.timer").read_text()
    assert "Type=oneshot" in service
    assert "ExecStart=/srv/aimon/.venv/bin/aimon run --env-file /srv/aimon/.env" in service.splitlines()
    assert "WorkingDirectory=/srv/aimon" in service.splitlines()
    assert "OnCalendar=*-*-* *:*:00" in timer.splitlines() and "Unit=aimon.service" in timer.splitlines()
    assert "WantedBy=timers.target" in timer.splitlines()  # enabled, the timer starts at boot
    assert "SupplementaryGroups=adm" in service.splitlines()  # Debian's /var/log is readable by group adm


def test_the_crontab_line_logs_where_it_can_write_on_a_fresh_machine() -> None:
    """cron says nothing when `>>` cannot open its file: the log goes to the working directory the line cd's into."""
    [line] = [line for line in (ROOT / "crontab.example").read_text().splitlines() if line.startswith("* * * * * ")]
    workdir = line.split("cd ", 1)[1].split(" ", 1)[0]
    target = line.split(">> ", 1)[1].split(" ", 1)[0]
    assert Path(target).parent == Path(workdir)
