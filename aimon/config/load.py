"""Loading settings: command-line overrides, then the environment, then ``.env``, then defaults; the data rules of
``aimon.toml``, validated against a JSON Schema. A bad value raises :class:`~aimon.errors.ConfigError` naming the
variable or key and what it accepts.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aimon.config.settings import (
    AutofixSettings,
    CatalogEntry,
    DiscordSettings,
    FingerprintRule,
    GitHubSettings,
    GuardSettings,
    LLMSettings,
    Settings,
    SourceSettings,
    Symptoms,
    Thresholds,
    hide_credentials,
)
from aimon.config.variables import OTHER_NAMES, SEVERITIES, VARS, Var
from aimon.errors import ConfigError

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
            "properties": {
                "patterns": {"type": "array", "items": {"type": "string"}},
                "emails": {"type": "boolean"},
                "ips": {"enum": ["none", "public", "all"]},
            },
        },
        "autofix": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "test_env": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
                "guard": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "paths": {"type": "array", "items": {"type": "string", "minLength": 1}},
                        "crates": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
                        "macros": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
                        "disable": {"type": "array", "items": {"type": "string", "pattern": "^[a-z][a-z-]*$"}},
                        "max_lines": {"type": "integer", "minimum": 1},
                        "max_files": {"type": "integer", "minimum": 1},
                        "max_chars": {"type": "integer", "minimum": 1},
                        "max_line_chars": {"type": "integer", "minimum": 1},
                    },
                },
            },
        },
        "symptoms": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "same_request": {"type": "boolean"},
                "report_targets": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "report_messages": {"type": "array", "items": {"type": "string", "minLength": 1}},
            },
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
    values.update(_autofix_values(toml_data.get("autofix", {})))
    warnings = unknown_variables([*environment, *file_values])
    return _build(values, {**_toml_values(toml_data), "warnings": warnings})


def unknown_variables(names: Iterable[str]) -> tuple[str, ...]:
    """A warning for each ``AIMON_*`` name that aimon does not read (a typo silently keeps the default otherwise),
    with the nearest name it does read."""
    known = [var.env for var in VARS]
    warnings = []
    for name in sorted(set(names)):
        if not name.startswith("AIMON_") or name in known or name in OTHER_NAMES:
            continue
        # Compared without the shared prefix, which would make every name look near every other.
        near = difflib.get_close_matches(name.removeprefix("AIMON_"), [k.removeprefix("AIMON_") for k in known], n=1, cutoff=0.7)
        hint = f"; did you mean AIMON_{near[0]}?" if near else "; .env.example lists every variable."
        warnings.append(f"{name} is not a setting aimon reads, so it has no effect{hint}")
    return tuple(warnings)


def _parse_var(var: Var, raw: str) -> Any:
    try:
        return var.parse(raw)
    except (ValueError, TypeError) as exc:
        if var.secret:
            message = f"{var.env}=(hidden) is not valid: {exc}"
        else:  # a URL's user:password@ is a secret even in a variable that is not one (AIMON_LOKI_URL, say)
            message = hide_credentials(f"{var.env}={raw!r} is not valid: {exc}")
        raise ConfigError(f"{message}. {var.env} accepts {var.accepts}.") from None


_GROUPS: dict[str, type[Any]] = {
    "sources": SourceSettings,
    "llm": LLMSettings,
    "discord": DiscordSettings,
    "github": GitHubSettings,
    "autofix": AutofixSettings,
}


def _build(values: Mapping[str, Any], data_rules: Mapping[str, Any]) -> Settings:
    """Settings from the parsed variables (keyed by dotted path) and the data rules of aimon.toml."""
    groups: dict[str, dict[str, Any]] = {name: {} for name in _GROUPS}
    top: dict[str, Any] = {}
    for path, value in values.items():
        group, _, name = path.rpartition(".")
        (groups[group] if group else top)[name] = value
    built = {name: cls(**groups[name]) for name, cls in _GROUPS.items()}
    return Settings(**top, **built, **data_rules)


def _autofix_values(table: Mapping[str, Any]) -> dict[str, Any]:
    """``[autofix]`` of aimon.toml as settings of the autofix group (keyed by dotted path, like the variables)."""
    guard: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in table.get("guard", {}).items()}
    return {"autofix.guard": GuardSettings(**guard), "autofix.test_env": tuple(table.get("test_env", ()))}


def _toml_values(data: Mapping[str, Any]) -> dict[str, Any]:
    catalog = {
        str(code): CatalogEntry(code=str(code), **entry) for code, entry in data.get("catalog", {}).items()
    }
    rules = tuple(FingerprintRule(**rule) for rule in data.get("fingerprint", {}).get("rules", []))
    redaction = data.get("redaction", {})
    patterns = tuple(redaction.get("patterns", []))
    thresholds = Thresholds(**data.get("thresholds", {}))
    symptom_values: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in data.get("symptoms", {}).items()}
    symptoms = Symptoms(**symptom_values)
    return {
        "catalog": catalog, "fingerprint_rules": rules, "redaction_patterns": patterns, "thresholds": thresholds,
        "symptoms": symptoms,
        "redaction_emails": redaction.get("emails", True), "redaction_ips": redaction.get("ips", "public"),
    }
