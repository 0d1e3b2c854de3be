"""Every environment variable aimon reads: its name, the setting it fills, what it accepts, its default and meaning.

This table is the one source of ``.env.example``, of the masked view in ``aimon status`` and of every message that
names a variable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aimon.config.secret import Secret

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
SEVERITIES = ("low", "medium", "high", "critical")

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(text: str) -> float:
    """``"90"``, ``"30s"``, ``"15m"``, ``"1h"``, ``"2d"`` → seconds."""
    match = _DURATION_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 1h or 2d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower() if choices[0].islower() else text.strip().upper()
        if value == "WARNING":
            value = "WARN"
        if value not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[,\n]", text) if part.strip())


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text!r} is not between 0 and 1")
    return value


def _optional_path(text: str) -> Path | None:
    return Path(text).expanduser() if text.strip() else None


def _url(text: str) -> str:
    if not text.strip():
        return ""
    if not re.match(r"^https?://[^\s/]+", text.strip()):
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text.strip().rstrip("/")


def _longer_than_zero(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not longer than zero")
    return seconds


def _secret_url(text: str) -> Secret:
    # Checked here, at load, so a typo stops every command at once instead of failing a stage every minute; the value
    # itself is never shown (the message names the variable only).
    if text.strip() and not re.match(r"^https?://[^\s/]+/\S*$", text.strip()):
        raise ValueError("it is not an http(s) URL")
    return Secret(text.strip())


# Owners: letters, digits and hyphens, and "_" in Enterprise Managed Users' handle_shortcode names.
_REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+$")


def _repo(text: str) -> str:
    name = text.strip().strip("/")
    if name and (not _REPO_RE.match(name) or name.split("/")[1] in (".", "..")):
        raise ValueError(f"{text!r} is not owner/name (e.g. acme/shop)")
    return name


@dataclass(frozen=True)
class Var:
    """One environment variable: its name, the Settings field it fills (a dotted path), how to parse it, its default and
    meaning."""

    env: str
    field: str
    default: str
    accepts: str
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False


VARS: tuple[Var, ...] = (
    Var("AIMON_DB", "db_path", ".aimon/state.db", "a file path", "The SQLite state file shared by every stage.", Path),
    Var("AIMON_CONFIG", "config_path", "aimon.toml", "a file path", "Rules that are data: catalog, fingerprint rules, redaction patterns, thresholds.", Path),
    Var("AIMON_SOURCE", "sources.kind", "file", "file or loki", "Where logs come from.", _choice("file", "loki")),
    Var("AIMON_LOG_PATHS", "sources.log_paths", "", "comma-separated paths or globs", "Log files to scan (rotated .1/.gz siblings are found by themselves).", _list),
    Var("AIMON_LOG_FORMAT", "sources.log_format", "auto", "auto, json or text", "How to read each line; auto detects it per line.", _choice("auto", "json", "text")),
    Var("AIMON_MIN_LEVEL", "sources.min_level", "ERROR", "one of " + ", ".join(LEVELS), "Lowest level that becomes an error group (panics always do).", _choice(*LEVELS)),
    Var("AIMON_ERROR_CODE_FIELDS", "sources.error_code_fields", "error_code", "comma-separated field names", "Event fields that carry the error code, first match wins.", _list),
    Var("AIMON_SILENCE", "sources.silence", "0", "a duration (0: never)", "A log that was read fine and then stays this long without a new line is reported as silent (a service that died writes nothing).", parse_duration),
    Var("AIMON_LOKI_URL", "sources.loki_url", "", "an http(s) URL", "Base URL of Loki (AIMON_SOURCE=loki).", _url),
    Var("AIMON_LOKI_QUERY", "sources.loki_query", '{job="app"} |~ "(?i)error|panic"', "a LogQL query", "Which streams to read; the default filter keeps the level filtering in Loki."),
    Var("AIMON_LOKI_TENANT", "sources.loki_tenant", "", "a tenant id", "Sent as X-Scope-OrgID for multi-tenant Loki."),
    Var("AIMON_LOKI_USERNAME", "sources.loki_username", "", "a user name", "Basic-auth user for Loki."),
    Var("AIMON_LOKI_PASSWORD", "sources.loki_password", "", "a password", "Basic-auth password for Loki.", Secret, True),
    Var("OPENAI_API_KEY", "llm.api_key", "", "an API key", "Key for the LLM endpoint; without it diagnose uses the offline diagnoser.", Secret, True),
    Var("AIMON_LLM_MODEL", "llm.model", "gpt-4o-mini", "a model name", "Model used for diagnoses and fixes."),
    Var("AIMON_LLM_BASE_URL", "llm.base_url", "", "an http(s) URL", "Any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp, ...).", _url),
    Var("AIMON_LLM_MONTHLY_BUDGET_USD", "llm.monthly_budget_usd", "30", "a number of dollars", "Past this spend in a calendar month, diagnose goes offline.", _positive_float),
    Var("AIMON_LLM_TIMEOUT", "llm.timeout", "30s", "a duration longer than zero", "Timeout of one LLM request.", _longer_than_zero),
    Var("AIMON_LLM_MAX_PROMPT_TOKENS", "llm.max_prompt_tokens", "6000", "a whole number", "Token budget of one diagnosis prompt.", _positive_int),
    Var("DISCORD_WEBHOOK_URL", "discord.webhook_url", "", "a Discord webhook URL", "Where alerts are posted.", _secret_url, True),
    Var("AIMON_DISCORD_MENTION", "discord.mention", "", "<@&ROLE_ID> or <@USER_ID>", "Who an alert mentions; nobody unless set."),
    Var("AIMON_DIGEST_THRESHOLD", "discord.digest_threshold", "5", "a whole number", "More alerts than this in one tick become one digest message.", _positive_int),
    Var("AIMON_REALERT", "discord.realert", "1h", "a duration", "Least time between two alerts of one fingerprint (spikes, regressions).", parse_duration),
    Var("AIMON_DIAGNOSIS_GRACE", "discord.diagnosis_grace", "2m", "a duration", "How long an alert waits for its diagnosis before it goes out without.", parse_duration),
    Var("GITHUB_TOKEN", "github.token", "", "a GitHub token", "Token for issues and pull requests.", Secret, True),
    Var("AIMON_GITHUB_REPO", "github.repo", "", "owner/name", "Repository that receives issues and pull requests.", _repo),
    Var("AIMON_GITHUB_API_URL", "github.api_url", "https://api.github.com", "an http(s) URL", "GitHub API base (https://HOST/api/v3 for Enterprise).", _url),
    Var("AIMON_ISSUE_MIN_SEVERITY", "github.issue_min_severity", "medium", "one of " + ", ".join(SEVERITIES), "Lowest diagnosed severity that gets a GitHub issue.", _choice(*SEVERITIES)),
    Var("AIMON_ISSUE_COMMENT_INTERVAL", "github.issue_comment_interval", "6h", "a duration", "Least time between two recurrence comments on one issue.", parse_duration),
    Var("AIMON_NO_REOPEN_LABELS", "github.no_reopen_labels", "wontfix", "comma-separated labels", "Closed issues with these labels are not reopened on regression.", _list),
    Var("AIMON_DEPLOYED_COMMIT", "github.deployed_commit", "", "a git commit", "Commit the service runs; source links point at it."),
    Var("AIMON_REPO_DIR", "repo_dir", "", "a directory", "Checkout of the service's source, for context and autofix.", _optional_path),
    Var("AIMON_AUTOFIX", "autofix.mode", "off", "off, dry-run or pr", "Whether autofix proposes pull requests.", _choice("off", "dry-run", "pr")),
    Var("AIMON_AUTOFIX_TEST_CMD", "autofix.test_cmd", "", "a shell command", "Command that must pass in the worktree before a PR is opened (e.g. cargo test)."),
    Var("AIMON_AUTOFIX_TEST_TIMEOUT", "autofix.test_timeout", "10m", "a duration longer than zero", "Timeout of the autofix test command.", _longer_than_zero),
    Var("AIMON_AUTOFIX_PATHS", "autofix.paths", "src/**", "comma-separated globs", "Files an autofix may change.", _list),
    Var("AIMON_AUTOFIX_MIN_CONFIDENCE", "autofix.min_confidence", "0.8", "a number from 0 to 1", "Least diagnosis confidence for an autofix.", _fraction),
    Var("AIMON_AUTOFIX_MIN_COUNT", "autofix.min_count", "3", "a whole number", "Least occurrences before an autofix is tried.", _positive_int),
    Var("AIMON_AUTOFIX_DAILY_CAP", "autofix.daily_cap", "3", "a whole number", "Most autofix pull requests a day.", _positive_int),
    Var("AIMON_AUTOFIX_MAX_LINES", "autofix.max_lines", "40", "a whole number", "Most changed lines in one autofix.", _positive_int),
    Var("AIMON_AUTOFIX_MAX_FILES", "autofix.max_files", "3", "a whole number", "Most changed files in one autofix.", _positive_int),
    Var("AIMON_GIT_AUTHOR", "autofix.git_author", "aimon <aimon@users.noreply.github.com>", "Name <email>", "Author of autofix commits."),
    Var("AIMON_TICK_BUDGET", "tick_budget", "50s", "a duration longer than zero", "Wall-clock budget of one `aimon run`.", _longer_than_zero),
    Var("AIMON_METRICS_FILE", "metrics_file", "", "a file path", "Prometheus textfile written after each run.", _optional_path),
)


# Names of the AIMON_ family that are read outside the settings: not typos.
OTHER_NAMES = frozenset({
    "AIMON_DEBUG",  # real tracebacks instead of one-line errors (the command line reads it)
    "AIMON_PIP_SPEC",  # where the example CI workflow installs aimon from
    "AIMON_STDERR_TIMESTAMPS",  # 1/0: stamp stderr lines with time and stage (default: when stderr is not a terminal)
})


def env_example() -> str:
    """The text of ``.env.example``: every variable, its default and what it is for."""
    lines = ["# aimon settings. Copy to .env and fill in what you use; every line shows the default."]
    for var in VARS:
        lines.append(f"# {var.help} Accepts {var.accepts}.")
        lines.append(f"{var.env}={var.default}")
    return "\n".join(lines) + "\n"


def var_for_field(path: str) -> Var:
    """The variable behind a setting (its dotted path, e.g. ``"discord.webhook_url"``), for messages that name it."""
    for var in VARS:
        if var.field == path:
            return var
    raise KeyError(path)
