"""Settings: the environment, then ``.env``, then built-in defaults; data rules from ``aimon.toml``.

Everything is loaded once (:func:`load_settings`) into a frozen :class:`Settings`, grouped by concern, and passed
down. The variables are listed in :mod:`aimon.config.variables`, the settings' shape in :mod:`aimon.config.settings`.
"""

from __future__ import annotations

from aimon.config.load import load_settings
from aimon.config.secret import Secret
from aimon.config.settings import (
    AutofixSettings,
    CatalogEntry,
    DiscordSettings,
    FingerprintRule,
    GitHubSettings,
    LLMSettings,
    Settings,
    SourceSettings,
    Symptoms,
    Thresholds,
    hide_credentials,
)
from aimon.config.variables import LEVELS, SEVERITIES, VARS, Var, env_example, parse_duration, var_for_field

__all__ = [
    "LEVELS",
    "SEVERITIES",
    "VARS",
    "AutofixSettings",
    "CatalogEntry",
    "DiscordSettings",
    "FingerprintRule",
    "GitHubSettings",
    "LLMSettings",
    "Secret",
    "Settings",
    "SourceSettings",
    "Symptoms",
    "Thresholds",
    "Var",
    "env_example",
    "hide_credentials",
    "load_settings",
    "parse_duration",
    "var_for_field",
]
