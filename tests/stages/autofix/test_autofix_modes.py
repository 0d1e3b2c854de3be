"""``aimon autofix``: off, dry-run, eligibility refusals, configuration errors, and GitHub failing at the wrong time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from aimon.state.db import open_db
from tests.stages.autofix.test_autofix import (
    API,
    BRANCH,
    FP,
    GOOD_EDIT,
    ISSUE,
    PULL,
    World,
    answer,
    calls,
    comment_endpoint,
    git,
    github,
    pr_endpoints,
    seed,
)
from tests.stages.autofix.test_autofix import world as world_fixture

world = world_fixture  # the same real checkout, bare remote and fake endpoints


def test_off_says_so_once_and_does_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMON_AUTOFIX")
    result = world.cli("autofix")
    assert result.exit_code == 0
    assert (result.stdout + result.stderr).count("autofix is off (AIMON_AUTOFIX=off)") == 1
    assert world.openai.requests == [] and calls(world) == []
    assert world.rows("SELECT * FROM autofix_attempts") == []


def test_dry_run_flag_sends_nothing_anywhere_not_even_to_the_llm(world: World) -> None:
    before = world.checkout_state()
    state_before = world.db.read_bytes()
    world.openai.reply(answer(GOOD_EDIT))

    result = world.run("--dry-run")

    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["mode"] == "dry-run"
    [attempt] = report["attempts"]
    assert attempt["outcome"] == "deferred" and attempt.get("diff") is None
    assert attempt["reason"] == "dry run: the LLM is not asked for a fix (AIMON_AUTOFIX=dry-run previews one)"
    assert world.openai.requests == []  # --dry-run touches nothing outside, the LLM included
    assert calls(world) == []  # no GitHub at all
    assert world.remote_branches() == ["main"]
    assert world.checkout_state() == before
    assert world.db.read_bytes() == state_before  # nothing recorded on disk


def test_dry_run_mode_renders_the_diff_as_text_and_does_not_ask_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMON_AUTOFIX", "dry-run")
    monkeypatch.delenv("AIMON_AUTOFIX_TEST_CMD")  # allowed in dry-run: the preview says it is untested
    world.openai.reply(answer(GOOD_EDIT))

    result = world.cli("autofix")

    assert result.exit_code == 0, result.stderr
    assert "Autofix dry run: nothing is pushed" in result.stdout
    assert "not tested: AIMON_AUTOFIX_TEST_CMD is not set" in result.stdout
    assert "+    s.trim().parse().unwrap_or(0)" in result.stdout
    assert calls(world) == [] and world.remote_branches() == ["main"]
    # Recorded (not sent) so that the next cron tick does not pay the model again for the same preview.
    assert world.rows("SELECT outcome, commented FROM autofix_attempts") == [{"outcome": "proposed", "commented": 0}]
    again = world.run()
    assert again.json()["attempts"] == [] and len(world.openai.requests) == 1


@pytest.mark.parametrize(
    ("setup", "reason", "outcome", "posted"),
    [
        ({"confidence": 0.5}, "the diagnosis is 50% confident; autofix needs 80% (AIMON_AUTOFIX_MIN_CONFIDENCE)", "ineligible", True),
        ({"count": 2}, "it has occurred fewer than 3 times (AIMON_AUTOFIX_MIN_COUNT)", "ineligible", True),
        ({"issue": False}, "it has no GitHub issue yet (an autofix PR always fixes an issue)", "ineligible", False),
        ({"catalog": True}, "the catalog marks error code E_QTY as not auto-fixable", "ineligible", True),
        ({"cap": True}, "the daily cap of 0 autofix pull requests is reached (AIMON_AUTOFIX_DAILY_CAP)", "deferred", True),
    ],
)
def test_ineligible_errors_are_recorded_and_posted_once(
    world: World, monkeypatch: pytest.MonkeyPatch, setup: dict[str, Any], reason: str, outcome: str, posted: bool
) -> None:
    conn = open_db(world.db)
    conn.execute("DELETE FROM issues")
    conn.execute("DELETE FROM diagnoses")
    conn.execute("DELETE FROM detections")
    conn.execute("DELETE FROM occurrences")
    conn.execute("DELETE FROM fingerprints")
    conn.close()
    seed(world.db, count=setup.get("count", 5), confidence=setup.get("confidence", 0.9), issue=setup.get("issue", True))
    if setup.get("catalog"):
        Path("aimon.toml").write_text("[catalog.E_QTY]\ndescription = 'bad quantity'\nauto_fixable = false\n")
    if setup.get("cap"):
        monkeypatch.setenv("AIMON_AUTOFIX_DAILY_CAP", "0")
    comment_endpoint(world)

    first = world.run()
    second = world.run()

    assert first.exit_code == 0 and second.exit_code == 0
    [attempt] = first.json()["attempts"]
    assert (attempt["outcome"], attempt["reason"], attempt["commented"]) == (outcome, reason, posted)
    assert second.json()["attempts"][0]["recorded"] is False  # the same reason again: no new row, no new comment
    assert world.rows("SELECT outcome, reason FROM autofix_attempts") == [{"outcome": outcome, "reason": reason}]
    comments = [c for c in calls(world) if c.request.url.endswith(f"/issues/{ISSUE}/comments")]
    assert len(comments) == (1 if posted else 0)
    if posted:
        assert json.loads(comments[0].request.body) == {
            "body": f"aimon autofix did not open a pull request for this error: {reason.replace('_', chr(92) + '_')}."
        }
    assert world.openai.requests == []  # none of this asked the model
    assert world.remote_branches() == ["main"]


def test_ignored_and_not_fixable_errors_are_left_alone_silently(world: World) -> None:
    seed(world.db, fingerprint="1111111111111111", diagnosis={"auto_fixable": False})
    conn = open_db(world.db)
    conn.execute("UPDATE fingerprints SET state = 'ignored' WHERE fingerprint = ?", (FP,))
    conn.close()
    result = world.run()
    assert result.exit_code == 0
    assert result.json()["attempts"] == [] and result.json()["skipped"] == {}
    assert calls(world) == [] and world.openai.requests == []


def test_a_fingerprint_merged_into_another_is_not_fixed_on_its_own(world: World) -> None:
    # Its diagnosis predates the merge; the canonical fingerprint (ignored here) speaks for it now.
    seed(world.db, fingerprint="1111111111111111", issue=False)
    conn = open_db(world.db)
    conn.execute("UPDATE fingerprints SET state = 'ignored' WHERE fingerprint = ?", (FP,))
    conn.execute(
        "INSERT INTO fingerprint_aliases (alias, fingerprint, created_at) VALUES ('1111111111111111', ?, 'x')", (FP,)
    )
    conn.close()
    result = world.run()
    assert result.exit_code == 0
    assert result.json()["attempts"] == [] and result.json()["skipped"] == {}
    assert calls(world) == [] and world.openai.requests == []


def test_no_model_available_is_a_deferral_posted_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("AIMON_LLM_BASE_URL")
    comment_endpoint(world)
    [attempt] = world.run().json()["attempts"]
    assert attempt["outcome"] == "deferred"
    assert attempt["reason"] == "the LLM is unavailable (no OPENAI_API_KEY and no AIMON_LLM_BASE_URL set)"
    assert attempt["commented"] is True
    world.run()
    assert len(calls(world)) == 1


def test_pr_mode_without_a_test_command_is_a_config_error(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMON_AUTOFIX_TEST_CMD")
    result = world.cli("autofix")
    assert result.exit_code == 2
    assert "AIMON_AUTOFIX=pr needs AIMON_AUTOFIX_TEST_CMD" in result.stderr and "never opens an untested" in result.stderr
    assert world.openai.requests == []


def test_repo_dir_must_be_a_git_checkout(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("AIMON_REPO_DIR", str(plain))
    result = world.cli("autofix")
    assert result.exit_code == 2
    assert f"AIMON_REPO_DIR={plain} is not a git checkout" in result.stderr


def test_pr_mode_without_github_is_a_config_error(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    result = world.cli("autofix")
    assert result.exit_code == 2 and "set GITHUB_TOKEN and AIMON_GITHUB_REPO" in result.stderr


def test_github_failing_on_create_removes_the_branch_and_waits(world: World) -> None:
    world.openai.reply(answer(GOOD_EDIT))
    github(world).add(responses.POST, f"{API}/pulls", status=502, json={"message": "Bad gateway"})

    result = world.run()

    assert result.exit_code == 1
    assert "opening the pull request: GitHub 502: Bad gateway; retrying next tick" in result.json()["errors"]
    assert world.remote_branches() == ["main"]  # the pushed branch was taken back
    [row] = world.rows("SELECT outcome, llm_used, commented FROM autofix_attempts")
    assert row == {"outcome": "deferred", "llm_used": 1, "commented": 0}
    again = world.run()
    assert "already tried against this diagnosis (deferred)" in again.json()["skipped"][FP]
    assert len(world.openai.requests) == 1


def test_a_pr_opened_but_never_recorded_is_found_again(world: World) -> None:
    # The process died after GitHub created the PR and before the state recorded it: the branch is on the remote.
    git(world.checkout, "push", "--quiet", "origin", f"main:refs/heads/{BRANCH}")
    github(world).add(
        responses.GET, f"{API}/pulls", json=[{"number": PULL, "html_url": f"https://github.com/acme/shop/pull/{PULL}"}],
        match=[responses.matchers.query_param_matcher({"state": "open", "head": f"acme:{BRANCH}"})],
    )

    result = world.run()

    [attempt] = result.json()["attempts"]
    assert attempt["outcome"] == "opened" and attempt["reason"] == f"recovered open pull request #{PULL}"
    assert world.rows("SELECT number, branch, state FROM pulls") == [{"number": PULL, "branch": BRANCH, "state": "open"}]
    assert world.openai.requests == []  # found before asking the model anything


def test_a_new_branch_name_when_an_old_one_is_taken(world: World) -> None:
    git(world.checkout, "push", "--quiet", "origin", f"main:refs/heads/{BRANCH}")
    github(world).add(responses.GET, f"{API}/pulls", json=[])
    world.openai.reply(answer(GOOD_EDIT))
    pr_endpoints(world)
    [attempt] = world.run().json()["attempts"]
    assert attempt["outcome"] == "opened" and attempt["branch"] == f"{BRANCH}-2"
    create = next(c for c in calls(world) if c.request.url == f"{API}/pulls" and c.request.method == "POST")
    assert json.loads(create.request.body)["head"] == f"{BRANCH}-2"
    assert git(world.remote, "rev-parse", BRANCH) == git(world.remote, "rev-parse", "main")  # the old one untouched


def test_text_output_names_the_pr_and_the_refusals(world: World) -> None:
    seed(world.db, fingerprint="2222222222222222", confidence=0.4)
    world.openai.reply(answer(GOOD_EDIT))
    pr_endpoints(world)
    comment_endpoint(world)
    result = world.cli("autofix")
    assert result.exit_code == 0, result.stderr
    assert f"{FP} opened: draft pull request #{PULL} https://github.com/acme/shop/pull/{PULL}" in result.stdout
    assert "2222222222222222 ineligible: the diagnosis is 40% confident" in result.stdout
    assert f"commented on #{ISSUE}" in result.stdout
    assert "test: touch " in result.stdout


def test_a_second_pass_while_one_runs_does_nothing(world: World) -> None:
    from filelock import FileLock

    with FileLock(str(world.db) + ".autofix.lock"):
        result = world.run()
    assert result.exit_code == 0
    assert "another autofix pass is running" in result.json()["message"]
    assert world.openai.requests == [] and calls(world) == []


def test_a_test_command_that_hangs_is_killed_and_stops_the_pr(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMON_AUTOFIX_TEST_CMD", "sleep 30")
    monkeypatch.setenv("AIMON_AUTOFIX_TEST_TIMEOUT", "0.3s")
    world.openai.reply(answer(GOOD_EDIT))
    comment_endpoint(world)
    [attempt] = world.run().json()["attempts"]
    assert attempt["outcome"] == "failed"
    assert attempt["reason"] == "the test command 'sleep 30' timed out after 0.3 s with the fix applied"
    assert attempt["test"]["timed_out"] is True
    assert world.remote_branches() == ["main"]


def test_refusals_are_visible_in_status(world: World) -> None:
    world.openai.reply(answer({"path": "Cargo.toml", "search": "[dependencies]\n", "replace": "[dependencies]\nleftpad = \"1\"\n"}))
    comment_endpoint(world)
    assert world.run().exit_code == 0
    status = world.cli("status", "--json").json()
    [refusal] = status["autofix"]["refusals"]
    assert refusal["fingerprint"] == FP and refusal["outcome"] == "refused" and refusal["rule"] == "dependency-change"
    assert refusal["reason"] == "guard: Cargo.toml is a manifest or lockfile that declares dependencies, which autofix never changes"
    text = world.cli("status").stdout
    assert f"{FP} refused [dependency-change]: guard: Cargo.toml is a manifest" in text
