from __future__ import annotations

from pathlib import Path

import pytest

from aimon.config import VARS, Secret, env_example, load_settings, parse_duration
from aimon.errors import ConfigError


def test_defaults_with_nothing_configured() -> None:
    settings = load_settings(environ={})
    assert settings.db_path == Path(".aimon/state.db")
    assert settings.llm.model == "gpt-4o-mini"
    assert settings.llm.monthly_budget_usd == 30.0
    assert settings.sources.min_level == "ERROR"
    assert settings.autofix.mode == "off"
    assert not settings.llm.api_key
    assert settings.repo_dir is None


def test_environment_beats_env_file_and_flags_beat_both(tmp_path: Path) -> None:
    env_file = tmp_path / "x.env"
    env_file.write_text("AIMON_LLM_MODEL=from-file\nAIMON_MIN_LEVEL=warn\nAIMON_REALERT=2h\n")
    settings = load_settings(env_file=env_file, environ={"AIMON_LLM_MODEL": "from-env"}, overrides={"AIMON_REALERT": "30m"})
    assert settings.llm.model == "from-env"
    assert settings.sources.min_level == "WARN"
    assert settings.discord.realert == 1800.0


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("AIMON_MIN_LEVEL", "loud", "AIMON_MIN_LEVEL='loud' is not valid"),
        ("AIMON_TICK_BUDGET", "soon", "AIMON_TICK_BUDGET accepts a duration"),
        ("AIMON_AUTOFIX_MIN_CONFIDENCE", "2", "between 0 and 1"),
        ("AIMON_LLM_BASE_URL", "localhost:11434", "not an http(s) URL"),
    ],
)
def test_bad_value_names_the_variable_and_what_it_accepts(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={name: value})
    assert needle in str(info.value)
    assert info.value.exit_code == 2


def test_a_bad_secret_is_never_echoed() -> None:
    settings = load_settings(environ={"OPENAI_API_KEY": "sk-live-abcdef123456"})
    assert "sk-live" not in repr(settings)
    assert "sk-live" not in str(settings.masked())
    assert settings.llm.api_key.reveal() == "sk-live-abcdef123456"
    assert repr(Secret("x")) == "Secret('***')"


def test_a_config_file_named_but_missing_is_an_error_the_default_one_is_optional(tmp_path: Path) -> None:
    missing = tmp_path / "aimon.tmol"
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"AIMON_CONFIG": str(missing)})
    assert str(info.value) == f"AIMON_CONFIG={missing}: no such file. Point it at an existing aimon.toml or unset it."
    assert load_settings(environ={}).config_path == Path("aimon.toml")  # absent, and not asked for: fine
    assert load_settings(environ={"AIMON_CONFIG": "aimon.toml"}).config_path == Path("aimon.toml")  # as .env.example has it
    assert load_settings(environ={"AIMON_CONFIG": ""}).catalog == {}  # empty: no config file


def test_toml_is_validated_with_a_message_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "aimon.toml"
    config.write_text('[catalog.E1001]\nseverity = "urgent"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"AIMON_CONFIG": str(config)})
    assert "catalog.E1001.severity" in str(info.value)


def test_toml_catalog_rules_and_thresholds(tmp_path: Path) -> None:
    config = tmp_path / "aimon.toml"
    config.write_text(
        '[catalog.DB_POOL]\ndescription = "pool exhausted"\nseverity = "high"\nauto_fixable = false\n'
        '[[fingerprint.rules]]\npattern = "^user \\\\d+ "\nmask = "user <*> "\n'
        '[redaction]\npatterns = ["acct-[0-9]+"]\n[thresholds]\nspike_factor = 3.0\n'
    )
    settings = load_settings(environ={"AIMON_CONFIG": str(config)})
    assert settings.catalog["DB_POOL"].severity == "high"
    assert settings.catalog["DB_POOL"].auto_fixable is False
    assert settings.fingerprint_rules[0].mask == "user <*> "
    assert settings.redaction_patterns == ("acct-[0-9]+",)
    assert settings.thresholds.spike_factor == 3.0


def test_bad_regex_in_toml_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "aimon.toml"
    config.write_text('[redaction]\npatterns = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        load_settings(environ={"AIMON_CONFIG": str(config)})


def test_durations() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("1.5h") == 5400
    assert parse_duration("2d") == 172800
    with pytest.raises(ValueError):
        parse_duration("-1h")


def test_env_example_in_the_repository_lists_every_variable() -> None:
    shipped = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    assert shipped == env_example()
    for var in VARS:
        assert f"\n{var.env}={var.default}\n" in shipped


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("DISCORD_WEBHOOK_URL", "discord.com/api/webhooks/1/abc", "DISCORD_WEBHOOK_URL=(hidden) is not valid: it is not an http(s) URL."),
        ("AIMON_TICK_BUDGET", "0", "AIMON_TICK_BUDGET='0' is not valid: '0' is not longer than zero."),
        ("AIMON_TICK_BUDGET", "-5s", "AIMON_TICK_BUDGET='-5s' is not valid"),
        ("AIMON_GITHUB_REPO", "acme", "AIMON_GITHUB_REPO='acme' is not valid: 'acme' is not owner/name (e.g. acme/shop)."),
        ("AIMON_GITHUB_REPO", "acme/shop/extra", "AIMON_GITHUB_REPO='acme/shop/extra' is not valid"),
        ("AIMON_REALERT", "soon", "AIMON_REALERT='soon' is not valid: 'soon' is not a duration like 30s, 15m, 1h or 2d."),
    ],
)
def test_a_bad_value_stops_every_command_at_load_with_exit_2_naming_the_setting(
    isolated: Path, cli: object, name: str, value: str, said: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={name: value, "AIMON_CONFIG": ""})
    assert str(raised.value).startswith(said)
    result = cli("status", env={name: value})  # type: ignore[operator]
    assert result.exit_code == 2
    assert said in result.stderr
    assert "discord.com/api/webhooks/1/abc" not in result.stderr  # a secret's value is never shown, even a wrong one


def test_good_values_still_load() -> None:
    settings = load_settings(environ={"DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/abc", "AIMON_GITHUB_REPO": "acme/shop.api",
                                      "AIMON_TICK_BUDGET": "50s", "AIMON_CONFIG": ""})
    assert settings.discord.webhook_url.reveal() == "https://discord.com/api/webhooks/1/abc"
    assert settings.github.repo == "acme/shop.api" and settings.tick_budget == 50


def test_an_unknown_aimon_variable_is_a_warning_with_the_nearest_name(isolated: Path, cli: object) -> None:
    result = cli("status", env={"AIMON_TICK_BUGDET": "5s", "AIMON_FROBNICATE": "1", "AIMON_DEBUG": ""})  # type: ignore[operator]
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: AIMON_FROBNICATE is not a setting aimon reads, so it has no effect; .env.example lists every variable.",
        "warning: AIMON_TICK_BUGDET is not a setting aimon reads, so it has no effect; did you mean AIMON_TICK_BUDGET?",
    ]


def test_an_unknown_name_in_the_env_file_is_a_warning_too(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("AIMON_LOG_PATH=/var/log/app.log\n")
    settings = load_settings(env_file=env_file, environ={"AIMON_CONFIG": ""})
    assert settings.warnings == ("AIMON_LOG_PATH is not a setting aimon reads, so it has no effect; did you mean AIMON_LOG_PATHS?",)


def test_enterprise_owner_names_and_finite_budgets() -> None:
    assert load_settings(environ={"AIMON_GITHUB_REPO": "octo_emu/shop", "AIMON_CONFIG": ""}).github.repo == "octo_emu/shop"
    for value in ("nan", "inf", "-1"):
        with pytest.raises(ConfigError, match="AIMON_LLM_MONTHLY_BUDGET_USD"):
            load_settings(environ={"AIMON_LLM_MONTHLY_BUDGET_USD": value, "AIMON_CONFIG": ""})


def test_a_bad_url_setting_never_shows_the_password_inside_it() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"AIMON_LOKI_URL": "ftp://loki:s3cret-pass@logs.internal", "AIMON_CONFIG": ""})
    assert "s3cret-pass" not in str(raised.value) and "AIMON_LOKI_URL='ftp://***@logs.internal' is not valid" in str(raised.value)
