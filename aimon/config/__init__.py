"""Settings: the environment, then ``.env``, then built-in defaults; data rules from ``aimon.toml``.

Everything is loaded once into a frozen :class:`Settings` and passed down. Secrets are :class:`Secret` values whose
``repr`` never shows them. A bad value raises :class:`~aimon.errors.ConfigError` naming the variable and what it accepts.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aimon.errors import ConfigError

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
SEVERITIES = ("low", "medium", "high", "critical")

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


class Secret:
    """A string that is never shown: not in ``repr``, not in ``str``, not in ``--json``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value, for the one place that must send it (an HTTP header, a client constructor)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


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


@dataclass(frozen=True)
class Var:
    """One environment variable: its name, the Settings field it fills, how to parse it, its default and meaning."""

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
    Var("AIMON_SOURCE", "source", "file", "file or loki", "Where logs come from.", _choice("file", "loki")),
    Var("AIMON_LOG_PATHS", "log_paths", "", "comma-separated paths or globs", "Log files to scan (rotated .1/.gz siblings are found by themselves).", _list),
    Var("AIMON_LOG_FORMAT", "log_format", "auto", "auto, json or text", "How to read each line; auto detects it per line.", _choice("auto", "json", "text")),
    Var("AIMON_MIN_LEVEL", "min_level", "ERROR", "one of " + ", ".join(LEVELS), "Lowest level that becomes an error group (panics always do).", _choice(*LEVELS)),
    Var("AIMON_ERROR_CODE_FIELDS", "error_code_fields", "error_code", "comma-separated field names", "Event fields that carry the error code, first match wins.", _list),
    Var("AIMON_LOKI_URL", "loki_url", "", "an http(s) URL", "Base URL of Loki (AIMON_SOURCE=loki).", _url),
    Var("AIMON_LOKI_QUERY", "loki_query", '{job="app"} |~ "(?i)error|panic"', "a LogQL query", "Which streams to read; the default filter keeps the level filtering in Loki."),
    Var("AIMON_LOKI_TENANT", "loki_tenant", "", "a tenant id", "Sent as X-Scope-OrgID for multi-tenant Loki."),
    Var("AIMON_LOKI_USERNAME", "loki_username", "", "a user name", "Basic-auth user for Loki."),
    Var("AIMON_LOKI_PASSWORD", "loki_password", "", "a password", "Basic-auth password for Loki.", Secret, True),
    Var("OPENAI_API_KEY", "openai_api_key", "", "an API key", "Key for the LLM endpoint; without it diagnose uses the offline diagnoser.", Secret, True),
    Var("AIMON_LLM_MODEL", "llm_model", "gpt-4o-mini", "a model name", "Model used for diagnoses and fixes."),
    Var("AIMON_LLM_BASE_URL", "llm_base_url", "", "an http(s) URL", "Any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp, ...).", _url),
    Var("AIMON_LLM_MONTHLY_BUDGET_USD", "llm_monthly_budget_usd", "30", "a number of dollars", "Past this spend in a calendar month, diagnose goes offline.", _positive_float),
    Var("AIMON_LLM_TIMEOUT", "llm_timeout", "30s", "a duration", "Timeout of one LLM request.", parse_duration),
    Var("AIMON_LLM_MAX_PROMPT_TOKENS", "llm_max_prompt_tokens", "6000", "a whole number", "Token budget of one diagnosis prompt.", _positive_int),
    Var("DISCORD_WEBHOOK_URL", "discord_webhook_url", "", "a Discord webhook URL", "Where alerts are posted.", Secret, True),
    Var("AIMON_DISCORD_MENTION", "discord_mention", "", "<@&ROLE_ID> or <@USER_ID>", "Who an alert mentions; nobody unless set."),
    Var("AIMON_DIGEST_THRESHOLD", "digest_threshold", "5", "a whole number", "More alerts than this in one tick become one digest message.", _positive_int),
    Var("AIMON_REALERT", "realert", "1h", "a duration", "Least time between two alerts of one fingerprint (spikes, regressions).", parse_duration),
    Var("AIMON_DIAGNOSIS_GRACE", "diagnosis_grace", "2m", "a duration", "How long an alert waits for its diagnosis before it goes out without.", parse_duration),
    Var("GITHUB_TOKEN", "github_token", "", "a GitHub token", "Token for issues and pull requests.", Secret, True),
    Var("AIMON_GITHUB_REPO", "github_repo", "", "owner/name", "Repository that receives issues and pull requests."),
    Var("AIMON_GITHUB_API_URL", "github_api_url", "https://api.github.com", "an http(s) URL", "GitHub API base (https://HOST/api/v3 for Enterprise).", _url),
    Var("AIMON_ISSUE_MIN_SEVERITY", "issue_min_severity", "medium", "one of " + ", ".join(SEVERITIES), "Lowest diagnosed severity that gets a GitHub issue.", _choice(*SEVERITIES)),
    Var("AIMON_ISSUE_COMMENT_INTERVAL", "issue_comment_interval", "6h", "a duration", "Least time between two recurrence comments on one issue.", parse_duration),
    Var("AIMON_NO_REOPEN_LABELS", "no_reopen_labels", "wontfix", "comma-separated labels", "Closed issues with these labels are not reopened on regression.", _list),
    Var("AIMON_DEPLOYED_COMMIT", "deployed_commit", "", "a git commit", "Commit the service runs; source links point at it."),
    Var("AIMON_REPO_DIR", "repo_dir", "", "a directory", "Checkout of the service's source, for context and autofix.", _optional_path),
    Var("AIMON_AUTOFIX", "autofix", "off", "off, dry-run or pr", "Whether autofix proposes pull requests.", _choice("off", "dry-run", "pr")),
    Var("AIMON_AUTOFIX_TEST_CMD", "autofix_test_cmd", "", "a shell command", "Command that must pass in the worktree before a PR is opened (e.g. cargo test)."),
    Var("AIMON_AUTOFIX_TEST_TIMEOUT", "autofix_test_timeout", "10m", "a duration", "Timeout of the autofix test command.", parse_duration),
    Var("AIMON_AUTOFIX_PATHS", "autofix_paths", "src/**", "comma-separated globs", "Files an autofix may change.", _list),
    Var("AIMON_AUTOFIX_MIN_CONFIDENCE", "autofix_min_confidence", "0.8", "a number from 0 to 1", "Least diagnosis confidence for an autofix.", _fraction),
    Var("AIMON_AUTOFIX_MIN_COUNT", "autofix_min_count", "3", "a whole number", "Least occurrences before an autofix is tried.", _positive_int),
    Var("AIMON_AUTOFIX_DAILY_CAP", "autofix_daily_cap", "3", "a whole number", "Most autofix pull requests a day.", _positive_int),
    Var("AIMON_AUTOFIX_MAX_LINES", "autofix_max_lines", "40", "a whole number", "Most changed lines in one autofix.", _positive_int),
    Var("AIMON_AUTOFIX_MAX_FILES", "autofix_max_files", "3", "a whole number", "Most changed files in one autofix.", _positive_int),
    Var("AIMON_GIT_AUTHOR", "git_author", "aimon <aimon@users.noreply.github.com>", "Name <email>", "Author of autofix commits."),
    Var("AIMON_TICK_BUDGET", "tick_budget", "50s", "a duration", "Wall-clock budget of one `aimon run`.", parse_duration),
    Var("AIMON_METRICS_FILE", "metrics_file", "", "a file path", "Prometheus textfile written after each run.", _optional_path),
)


@dataclass(frozen=True)
class CatalogEntry:
    """What the service team says about one error code."""

    code: str
    description: str = ""
    severity: str = ""
    owner: str = ""
    runbook: str = ""
    auto_fixable: bool | None = None


@dataclass(frozen=True)
class Thresholds:
    """Detection thresholds (``[thresholds]`` in aimon.toml)."""

    spike_window_minutes: int = 5
    spike_baseline_minutes: int = 60
    spike_factor: float = 5.0
    spike_min_count: int = 10
    spike_warmup_minutes: int = 30


@dataclass(frozen=True)
class FingerprintRule:
    """A user rule: a regex on the message that fixes the template (``template``) or masks more (``mask``)."""

    pattern: str
    template: str | None = None
    mask: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything aimon was told, loaded once. Never mutated; never printed with secrets."""

    db_path: Path
    config_path: Path
    source: str
    log_paths: tuple[str, ...]
    log_format: str
    min_level: str
    error_code_fields: tuple[str, ...]
    loki_url: str
    loki_query: str
    loki_tenant: str
    loki_username: str
    loki_password: Secret
    openai_api_key: Secret
    llm_model: str
    llm_base_url: str
    llm_monthly_budget_usd: float
    llm_timeout: float
    llm_max_prompt_tokens: int
    discord_webhook_url: Secret
    discord_mention: str
    digest_threshold: int
    realert: float
    diagnosis_grace: float
    github_token: Secret
    github_repo: str
    github_api_url: str
    issue_min_severity: str
    issue_comment_interval: float
    no_reopen_labels: tuple[str, ...]
    deployed_commit: str
    repo_dir: Path | None
    autofix: str
    autofix_test_cmd: str
    autofix_test_timeout: float
    autofix_paths: tuple[str, ...]
    autofix_min_confidence: float
    autofix_min_count: int
    autofix_daily_cap: int
    autofix_max_lines: int
    autofix_max_files: int
    git_author: str
    tick_budget: float
    metrics_file: Path | None
    catalog: Mapping[str, CatalogEntry] = field(default_factory=dict)
    fingerprint_rules: tuple[FingerprintRule, ...] = ()
    redaction_patterns: tuple[str, ...] = ()
    thresholds: Thresholds = Thresholds()

    def masked(self) -> dict[str, str]:
        """Every variable with its effective value, secrets shown only as set/unset (for ``aimon status``)."""
        shown: dict[str, str] = {}
        for var in VARS:
            value = getattr(self, var.field)
            if var.secret:
                shown[var.env] = "set (hidden)" if value else "unset"
            elif isinstance(value, tuple):
                shown[var.env] = ",".join(value)
            else:
                shown[var.env] = "" if value is None else hide_credentials(str(value))
        return shown


def hide_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it shown as ``***@``."""
    return re.sub(r"(?<=//)[^/@\s]+@", "***@", text)


_TOML_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "catalog": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "description": {"type": "string"},
                    "severity": {"enum": list(SEVERITIES)},
                    "owner": {"type": "string"},
                    "runbook": {"type": "string"},
                    "auto_fixable": {"type": "boolean"},
                },
            },
        },
        "fingerprint": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["pattern"],
                        "properties": {
                            "pattern": {"type": "string"},
                            "template": {"type": "string"},
                            "mask": {"type": "string"},
                        },
                    },
                }
            },
        },
        "redaction": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"patterns": {"type": "array", "items": {"type": "string"}}},
        },
        "thresholds": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "spike_window_minutes": {"type": "integer", "minimum": 1},
                "spike_baseline_minutes": {"type": "integer", "minimum": 1},
                "spike_factor": {"type": "number", "exclusiveMinimum": 1},
                "spike_min_count": {"type": "integer", "minimum": 1},
                "spike_warmup_minutes": {"type": "integer", "minimum": 0},
            },
        },
    },
}


def _read_env_file(env_file: Path | None) -> dict[str, str]:
    from dotenv import dotenv_values

    if env_file is None:
        env_file = Path(".env")
        if not env_file.is_file():
            return {}
    elif not env_file.is_file():
        raise ConfigError(f"--env-file {env_file}: no such file. Pass an existing .env file or leave the option out.")
    return {key: value for key, value in dotenv_values(env_file).items() if value is not None}


def _load_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as TOML ({exc}). Fix the file or point AIMON_CONFIG elsewhere.") from exc
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(_TOML_SCHEMA).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        error = errors[0]
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"{path}: {where}: {error.message}. See the Configuration section of the README.")
    for rule in data.get("fingerprint", {}).get("rules", []):
        _check_regex(path, "fingerprint.rules.pattern", rule["pattern"])
    for pattern in data.get("redaction", {}).get("patterns", []):
        _check_regex(path, "redaction.patterns", pattern)
    return data


def _check_regex(path: Path, where: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{path}: {where}: {pattern!r} is not a valid regular expression ({exc}).") from exc


def load_settings(
    env_file: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings: ``overrides`` (command-line flags), then the environment, then the env file, then defaults."""
    environment = os.environ if environ is None else environ
    file_values = _read_env_file(env_file)
    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    for var in VARS:
        raw = None
        for layer in (overrides or {}, environment, file_values):
            if var.env in layer:
                raw = given[var.env] = layer[var.env]
                break
        if raw is None:
            raw = var.default
        values[var.field] = _parse_var(var, raw)
    if given.get("AIMON_CONFIG", "").strip() not in ("", "aimon.toml") and not values["config_path"].is_file():
        # The default aimon.toml is optional (as .env.example names it; AIMON_CONFIG= empty means none); another file
        # asked for by name is not: its redaction patterns may be what keeps a secret on the machine.
        raise ConfigError(f"AIMON_CONFIG={values['config_path']}: no such file. Point it at an existing aimon.toml or unset it.")
    toml_data = _load_toml(values["config_path"])
    values.update(_toml_values(toml_data))
    return Settings(**values)


def _parse_var(var: Var, raw: str) -> Any:
    try:
        return var.parse(raw)
    except (ValueError, TypeError) as exc:
        shown = "(hidden)" if var.secret else f"{raw!r}"
        raise ConfigError(f"{var.env}={shown} is not valid: {exc}. {var.env} accepts {var.accepts}.") from None


def _toml_values(data: Mapping[str, Any]) -> dict[str, Any]:
    catalog = {
        str(code): CatalogEntry(code=str(code), **entry) for code, entry in data.get("catalog", {}).items()
    }
    rules = tuple(FingerprintRule(**rule) for rule in data.get("fingerprint", {}).get("rules", []))
    patterns = tuple(data.get("redaction", {}).get("patterns", []))
    thresholds = Thresholds(**data.get("thresholds", {}))
    return {"catalog": catalog, "fingerprint_rules": rules, "redaction_patterns": patterns, "thresholds": thresholds}


def env_example() -> str:
    """The text of ``.env.example``: every variable, its default and what it is for."""
    lines = ["# aimon settings. Copy to .env and fill in what you use; every line shows the default."]
    for var in VARS:
        lines.append(f"# {var.help} Accepts {var.accepts}.")
        lines.append(f"{var.env}={var.default}")
    return "\n".join(lines) + "\n"


def var_for_field(field_name: str) -> Var:
    """The variable behind a Settings field (for messages that must name it)."""
    for var in VARS:
        if var.field == field_name:
            return var
    raise KeyError(field_name)


__all__ = [
    "VARS",
    "CatalogEntry",
    "FingerprintRule",
    "Secret",
    "Settings",
    "Thresholds",
    "env_example",
    "load_settings",
    "parse_duration",
    "var_for_field",
]
