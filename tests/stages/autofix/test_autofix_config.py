"""``[autofix.guard]`` and ``[autofix] test_env`` in aimon.toml: loaded, validated, and turned into the guard's policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimon.config.load import load_settings
from aimon.errors import ConfigError
from aimon.stages.autofix.guard import Allowances, Limits


def settings_with(tmp_path: Path, toml: str, **env: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "aimon.toml"
    config.write_text(toml)
    return load_settings(environ={"AIMON_CONFIG": str(config), **env})


def test_safe_defaults_without_a_table(tmp_path: Path) -> None:
    limits = Limits.of(settings_with(tmp_path, "").autofix)
    assert limits == Limits(allowed=("src/**",), max_lines=40, max_files=3, max_chars=4000, max_line_chars=200)
    assert "adds-unsafe" in limits.rules() and "path-escape" in limits.rules()


def test_a_repository_widens_and_tightens_the_guard(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path,
        '[autofix]\ntest_env = ["RUSTFLAGS"]\n\n[autofix.guard]\npaths = ["crates/*/src/**"]\ncrates = ["regex"]\n'
        'macros = ["lazy_static"]\ndisable = ["new-crate", "not-rust"]\nmax_lines = 10\nmax_chars = 900\nmax_line_chars = 120\n',
        AIMON_AUTOFIX_PATHS="src/**,lib/**", AIMON_AUTOFIX_MAX_FILES="2",
    )
    assert settings.autofix.test_env == ("RUSTFLAGS",)
    limits = Limits.of(settings.autofix)
    assert limits == Limits(
        allowed=("src/**", "lib/**", "crates/*/src/**"), max_lines=10, max_files=2, max_chars=900, max_line_chars=120,
        allow=Allowances(crates=frozenset({"regex"}), macros=frozenset({"lazy_static"})),
        disabled=frozenset({"new-crate", "not-rust"}),
    )
    assert "new-crate" not in limits.rules() and "adds-unsafe" in limits.rules()


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("[autofix.guard]\nmax_chars = 0\n", "autofix.guard.max_chars"),
        ("[autofix.guard]\nbudget = 3\n", "'budget' was unexpected"),
        ("[autofix.guard]\ncrates = ['not a crate']\n", "autofix.guard.crates.0"),
        ("[autofix]\ntest_env = ['A=B']\n", "autofix.test_env.0"),
    ],
)
def test_a_bad_table_is_a_config_error_naming_the_key(tmp_path: Path, toml: str, words: str) -> None:
    with pytest.raises(ConfigError, match=r"aimon\.toml") as info:
        settings_with(tmp_path, toml)
    assert words in str(info.value)


@pytest.mark.parametrize(("rule", "words"), [("no-such-rule", "no-such-rule is not a rule"), ("path-escape", "path-escape is not")])
def test_only_known_rules_that_may_be_turned_off_can_be(tmp_path: Path, rule: str, words: str) -> None:
    settings = settings_with(tmp_path, f'[autofix.guard]\ndisable = ["{rule}"]\n')
    with pytest.raises(ConfigError, match=words):
        Limits.of(settings.autofix)


def test_autofix_says_so_before_any_work(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "aimon.toml"
    config.write_text('[autofix.guard]\ndisable = ["unreadable-source"]\n')
    monkeypatch.setenv("AIMON_CONFIG", str(config))
    monkeypatch.setenv("AIMON_AUTOFIX", "dry-run")
    monkeypatch.setenv("AIMON_DB", str(tmp_path / "state.db"))
    result = cli("autofix")
    assert result.exit_code == 2
    assert "[autofix.guard] disable: unreadable-source is not a rule that may be turned off" in result.stderr


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "OPENAI_API_KEY", "DISCORD_WEBHOOK_URL", "AIMON_REPO_DIR"])
def test_a_secret_in_test_env_is_a_config_error(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, name: str) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "aimon.toml"
    config.write_text(f'[autofix]\ntest_env = ["RUSTFLAGS", "{name}"]\n')
    monkeypatch.setenv("AIMON_CONFIG", str(config))
    monkeypatch.setenv("AIMON_AUTOFIX", "dry-run")
    result = cli("autofix")
    assert result.exit_code == 2
    assert f"[autofix] test_env names {name}: the test command runs code a model wrote" in result.stderr
