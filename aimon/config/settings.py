"""The settings aimon runs with, grouped by concern, frozen once loaded.

:func:`aimon.config.load.load_settings` builds them; every other module only reads them. Secrets are
:class:`~aimon.config.secret.Secret` values whose ``repr`` never shows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aimon.config.secret import Secret
from aimon.config.variables import VARS


@dataclass(frozen=True)
class SourceSettings:
    """Where the logs come from and how they are read."""

    kind: str  # file | loki
    log_paths: tuple[str, ...]
    log_format: str
    min_level: str
    error_code_fields: tuple[str, ...]
    silence: float  # seconds without a new line after which a log that was fine is reported silent; 0: never
    loki_url: str
    loki_query: str
    loki_tenant: str
    loki_username: str
    loki_password: Secret


@dataclass(frozen=True)
class LLMSettings:
    """The LLM endpoint of diagnoses and fixes, and what it may cost."""

    api_key: Secret
    model: str
    base_url: str
    monthly_budget_usd: float
    timeout: float
    max_prompt_tokens: int


@dataclass(frozen=True)
class DiscordSettings:
    """Where alerts go, and how often."""

    webhook_url: Secret
    mention: str
    digest_threshold: int
    realert: float
    diagnosis_grace: float


@dataclass(frozen=True)
class GitHubSettings:
    """The repository that receives issues and pull requests."""

    token: Secret
    repo: str
    api_url: str
    issue_min_severity: str
    issue_comment_interval: float
    no_reopen_labels: tuple[str, ...]
    deployed_commit: str


@dataclass(frozen=True)
class GuardSettings:
    """How a repository widens or tightens the autofix guard (``[autofix.guard]`` in aimon.toml).

    ``max_lines`` and ``max_files`` of 0 keep ``AIMON_AUTOFIX_MAX_LINES`` / ``_MAX_FILES``; the rest have safe defaults.
    """

    paths: tuple[str, ...] = ()  # globs allowed on top of AIMON_AUTOFIX_PATHS
    crates: tuple[str, ...] = ()  # crates a fix may start using in a file
    macros: tuple[str, ...] = ()  # macros a fix may start invoking in a file
    disable: tuple[str, ...] = ()  # rule ids turned off
    max_lines: int = 0
    max_files: int = 0
    max_chars: int = 4000
    max_line_chars: int = 200


@dataclass(frozen=True)
class AutofixSettings:
    """Whether and how autofix proposes draft pull requests."""

    mode: str  # off | dry-run | pr
    test_cmd: str
    test_timeout: float
    paths: tuple[str, ...]
    min_confidence: float
    min_count: int
    daily_cap: int
    max_lines: int
    max_files: int
    git_author: str
    guard: GuardSettings = GuardSettings()
    test_env: tuple[str, ...] = ()  # variables passed to the test command on top of its clean environment


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
class Symptoms:
    """Which error-level events fold into the root error of their request (``[symptoms]`` in aimon.toml): a symptom
    is counted on its root's group and gets no group, alert, issue or LLM call of its own."""

    enabled: bool = True
    same_request: bool = True  # any error-level event after the request's root error; False: only response reports
    report_targets: tuple[str, ...] = ("tower_http::trace::on_failure",)  # a target that only reports a failed response
    report_messages: tuple[str, ...] = ("response failed",)  # a message (its start, any case) that only reports one


@dataclass(frozen=True)
class FingerprintRule:
    """A user rule: a regex on the message that fixes the template (``template``) or masks more (``mask``)."""

    pattern: str
    template: str | None = None
    mask: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything aimon was told, loaded once. Never mutated; never printed with secrets.

    The top level holds what the tick itself needs (its state file, budget, metrics file, the service's checkout);
    each remote and each reader has its group; the data rules of ``aimon.toml`` follow.
    """

    db_path: Path
    config_path: Path
    repo_dir: Path | None
    tick_budget: float
    metrics_file: Path | None
    sources: SourceSettings
    llm: LLMSettings
    discord: DiscordSettings
    github: GitHubSettings
    autofix: AutofixSettings
    catalog: Mapping[str, CatalogEntry] = field(default_factory=dict)
    fingerprint_rules: tuple[FingerprintRule, ...] = ()
    redaction_patterns: tuple[str, ...] = ()
    redaction_emails: bool = True  # [redaction] emails: mask e-mail addresses in what leaves the machine
    redaction_ips: str = "public"  # [redaction] ips: none | public | all (private and loopback addresses name hosts)
    thresholds: Thresholds = Thresholds()
    symptoms: Symptoms = Symptoms()
    warnings: tuple[str, ...] = ()  # said on stderr by the command line: e.g. an AIMON_* name that is not a setting

    def value(self, path: str) -> object:
        """A setting by its dotted path (``"discord.webhook_url"``), as :data:`aimon.config.variables.VARS` names it."""
        found: object = self
        for part in path.split("."):
            found = getattr(found, part)
        return found

    def masked(self) -> dict[str, str]:
        """Every variable with its effective value, secrets shown only as set/unset (for ``aimon status``)."""
        shown: dict[str, str] = {}
        for var in VARS:
            value = self.value(var.field)
            if var.secret:
                shown[var.env] = "set (hidden)" if value else "unset"
            elif isinstance(value, tuple):
                shown[var.env] = ",".join(value)
            else:
                shown[var.env] = "" if value is None else hide_credentials(str(value))
        return shown

    def secrets(self) -> list[Secret]:
        """The secrets that are set (for scrubbing them out of anything shown)."""
        found = [self.value(var.field) for var in VARS if var.secret]
        return [secret for secret in found if isinstance(secret, Secret) and secret]


def hide_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it shown as ``***@``."""
    return re.sub(r"(?<=//)[^/@\s]+@", "***@", text)
