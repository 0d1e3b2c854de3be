"""The autofix guard, the edit applier and the git helpers, on their own (pure functions and real git repos)."""

from __future__ import annotations

import difflib
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimon.errors import ConfigError, RemoteError
from aimon.stages.autofix import guard, worktree
from aimon.stages.autofix.edits import Edit, EditError, apply_edits, unified_diff
from aimon.stages.autofix.guard import Limits, check_path, check_size, glob_match, normalize
from tests.gitrepo import git, remote_and_clone

ALLOWED = ("src/**",)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name, text in {
        "src/lib.rs": "pub fn a() {}\n",
        "src/deep/mod.rs": "mod x;\n",
        "src/build.rs": "fn main() {}\n",
        "src/run.sh": "echo\n",
        "src/.env.local": "KEY=1\n",
        "src/Cargo.lock": "",
        "src/package.json": "{}\n",
        "src/.github/workflows/ci.yml": "on: push\n",
        "Cargo.toml": "[package]\n",
        "docs/readme.md": "hi\n",
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "outside.rs").write_text("secret\n")
    (root / "src" / "escape.rs").symlink_to(tmp_path / "outside.rs")
    (root / "src" / "inner.rs").symlink_to(root / "Cargo.toml")
    (root / "src" / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    return root


def test_a_plain_source_file_passes(repo: Path) -> None:
    assert check_path(repo, "src/lib.rs", ALLOWED) is None
    assert check_path(repo, "./src/deep/mod.rs", ALLOWED) is None


@pytest.mark.parametrize(
    ("path", "rule", "words"),
    [
        ("/etc/passwd", "path-escape", "not a plain relative path"),
        ("../outside.rs", "path-escape", "not a plain relative path"),
        ("src/../../outside.rs", "path-escape", "not a plain relative path"),
        ("src\\lib.rs", "path-escape", "not a plain relative path"),
        ("~/x.rs", "path-escape", "not a plain relative path"),
        ("", "path-escape", "not a plain relative path"),
        ("src/escape.rs", "path-escape", "symlink"),
        ("src/inner.rs", "path-escape", "symlink"),
        ("src/linkdir/outside.rs", "path-escape", "symlink"),
        ("src/build.rs", "build-script", "a build script"),
        ("src/run.sh", "build-script", "a build script"),
        ("src/.env.local", "secret-file", "a secret or credential file"),
        ("src/Cargo.lock", "dependency-change", "a manifest or lockfile"),
        ("src/package.json", "dependency-change", "a manifest or lockfile"),
        ("src/.github/workflows/ci.yml", "ci-config", "inside .github/"),
        (".github/workflows/ci.yml", "ci-config", "inside .github/"),
        ("Cargo.toml", "dependency-change", "a manifest or lockfile"),
        ("docs/readme.md", "outside-paths", "outside the paths autofix may change"),
        ("src/missing.rs", "new-file", "not an existing file"),
    ],
)
def test_refused_paths_say_why(repo: Path, path: str, rule: str, words: str) -> None:
    refusal = check_path(repo, path, ALLOWED)
    assert refusal is not None and refusal.rule == rule and words in refusal.message


def test_globs() -> None:
    assert glob_match("src/a.rs", "src/**")
    assert glob_match("src/a/b/c.rs", "src/**")
    assert not glob_match("srcx/a.rs", "src/**")
    assert glob_match("crates/api/src/a.rs", "crates/*/src/**")
    assert not glob_match("crates/api/tests/a.rs", "crates/*/src/**")
    assert glob_match("src/a.rs", "src/*.rs")
    assert not glob_match("src/x/a.rs", "src/*.rs")
    assert glob_match("src/x/a.rs", "src/**/*.rs")
    assert glob_match("src/a.rs", "src/**/*.rs")


@given(st.lists(st.sampled_from(["src", "..", ".", "a.rs", "", "/", "x"]), min_size=1, max_size=6))
def test_normalize_never_yields_an_escape(parts: list[str]) -> None:
    clean = normalize("/".join(parts))
    if clean is not None:
        assert not clean.startswith("/")
        assert ".." not in clean.split("/")
        assert "." not in clean.split("/")


@given(st.text(min_size=1, max_size=40))
def test_anything_with_a_parent_step_is_refused(tail: str) -> None:
    assert normalize("src/../" + tail) is None


def test_size_limits() -> None:
    before = {"src/a.rs": "a\nb\nc\n", "src/b.rs": "x\n", "src/c.rs": "y\n"}
    small = {"src/a.rs": "a\nB\nc\n"}
    assert guard.changed_lines(before["src/a.rs"], small["src/a.rs"]) == 2
    assert check_size(before, small, Limits(max_lines=2)) is None
    refusal = check_size(before, small, Limits(max_lines=1))
    assert refusal is not None and refusal.rule == "too-many-lines"
    assert "2 changed lines" in refusal.message and "AIMON_AUTOFIX_MAX_LINES" in refusal.message
    many = {"src/a.rs": "z\n", "src/b.rs": "z\n", "src/c.rs": "z\n"}
    refusal = check_size(before, many, Limits(max_files=2))
    assert refusal is not None and refusal.rule == "too-many-files" and "3 files" in refusal.message


def test_code_already_there_does_not_block_a_fix() -> None:
    before = {"src/a.rs": 'fn port() -> String { std::env::var("PORT").unwrap() }\n'}
    after = {"src/a.rs": 'fn port() -> String { std::env::var("PORT").unwrap_or_else(|_| "8080".into()) }\n'}
    assert guard.check_patch(before, after, Limits()) is None
    more = {"src/a.rs": 'fn port() -> String { std::env::var("PORT").or(std::env::var("P")).unwrap() }\n'}
    refusal = guard.check_patch(before, more, Limits())
    assert refusal is not None and refusal.rule == "reads-secrets"


def test_check_edits_checks_every_edit(repo: Path) -> None:
    ok = ("src/lib.rs", "pub fn a() {}", "pub fn a() { }")
    assert guard.check_edits(repo, [ok], Limits()) is None
    refusal = guard.check_edits(repo, [ok, ("Cargo.toml", "[package]", "[package]\n[dependencies]\nreqwest = '*'")], Limits())
    assert refusal is not None and refusal.rule == "dependency-change" and "Cargo.toml" in refusal.message


# --- edits ----------------------------------------------------------------------------------------------------------


def test_edits_apply_exactly_once_in_order() -> None:
    originals = {"src/a.rs": "fn a() {\n    x.unwrap()\n}\n"}
    edits = [Edit("src/a.rs", "x.unwrap()", "x.unwrap_or(0)"), Edit("src/a.rs", "fn a()", "fn a_fixed()")]
    assert apply_edits(originals, edits) == {"src/a.rs": "fn a_fixed() {\n    x.unwrap_or(0)\n}\n"}


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (Edit("src/a.rs", "x", "y"), "occurs 2 times"),
        (Edit("src/a.rs", "nope", "y"), "does not occur"),
        (Edit("src/a.rs", "", "y"), "empty search"),
        (Edit("src/b.rs", "x", "y"), "not a file the model was shown"),
        (Edit("src/a.rs", "x;\nx", "x;\nx"), "with itself"),
    ],
)
def test_edits_that_do_not_apply_say_why(edit: Edit, words: str) -> None:
    with pytest.raises(EditError, match=words):
        apply_edits({"src/a.rs": "x;\nx;\n"}, [edit])


def test_unified_diff_looks_likegit() -> None:
    diff = unified_diff({"src/a.rs": "a\nb\n"}, {"src/a.rs": "a\nc\n"})
    assert diff == "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"


@given(st.lists(st.sampled_from(["a", "b", "}", "", "fn x() {"]), max_size=30),
       st.lists(st.sampled_from(["a", "b", "}", "", "fn y() {"]), max_size=30), st.booleans())
def test_unified_diff_is_difflibs_where_its_junk_heuristic_is_off(before: list[str], after: list[str], newline: bool) -> None:
    # Below 200 lines difflib applies no junk heuristic: there the two must agree line for line.
    a = "\n".join(before) + ("\n" if newline and before else "")
    b = "\n".join(after) + ("\n" if after else "")
    if a == b:
        return
    expected = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True), "a/f.rs", "b/f.rs")
    )
    assert unified_diff({"f.rs": a}, {"f.rs": b}) == expected


# --- git ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = remote_and_clone(tmp_path, monkeypatch, "work")
    (work / "src").mkdir()
    (work / "src" / "lib.rs").write_text("pub fn a() {}\n")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "init")
    git(work, "push", "--quiet", "origin", "main")
    return work


def test_check_repo_explains_what_to_set(tmp_path: Path, clone: Path) -> None:
    assert worktree.check_repo(clone) == clone.resolve()
    with pytest.raises(ConfigError, match="AIMON_REPO_DIR"):
        worktree.check_repo(None)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ConfigError, match="not a git checkout"):
        worktree.check_repo(plain)


def test_worktree_is_removed_even_when_the_work_fails(clone: Path) -> None:
    name, commit = worktree.default_branch(clone, fetch=True)
    assert name == "main"
    seen = None
    with pytest.raises(RuntimeError), worktree.worktree(clone, commit) as tree:
        seen = tree
        assert (tree / "src" / "lib.rs").is_file()
        raise RuntimeError("boom")
    assert seen is not None and not seen.exists() and not seen.parent.exists()
    assert git(clone, "worktree", "list").count("\n") == 1


def test_default_branch_without_origin_head_asks_the_remote(clone: Path) -> None:
    git(clone, "remote", "set-head", "origin", "--delete")
    assert worktree.default_branch(clone, fetch=False)[0] == "main"


def test_push_never_overwrites_an_existing_branch(clone: Path) -> None:
    _, commit = worktree.default_branch(clone, fetch=False)
    git(clone, "push", "--quiet", "origin", "main:refs/heads/aimon/fix-taken")
    with worktree.worktree(clone, commit) as tree:
        (tree / "src" / "lib.rs").write_text("pub fn b() {}\n")
        worktree.commit_paths(tree, "aimon <aimon@example.com>", "fix", ["src/lib.rs"])
        with pytest.raises(RemoteError, match="aimon/fix-taken"):
            worktree.push(tree, "aimon/fix-taken")
        worktree.push(tree, "aimon/fix-new")
    assert worktree.remote_branches(clone, "aimon/fix-") == {"aimon/fix-taken", "aimon/fix-new"}
    log = git(clone.parent / "remote.git", "log", "-1", "--format=%an <%ae>|%cn|%s", "aimon/fix-new")
    assert log.strip() == "aimon <aimon@example.com>|aimon|fix"


def test_bad_author_is_a_config_error(clone: Path) -> None:
    with pytest.raises(ConfigError, match="AIMON_GIT_AUTHOR"):
        worktree.commit_paths(clone, "just a name", "x", ["src/lib.rs"])


def test_tests_pass_fail_and_time_out_killing_the_whole_group(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    ok = worktree.run_tests(tmp_path, "echo hello; echo \"[$GITHUB_TOKEN]\"", 30, env)
    assert ok.passed and ok.exit_code == 0 and ok.output_tail == "hello\n[]\n"
    bad = worktree.run_tests(tmp_path, "echo nope >&2; exit 3", 30, env)
    assert not bad.passed and bad.exit_code == 3 and "nope" in bad.output_tail
    pid_file = tmp_path / "child.pid"
    slow = worktree.run_tests(tmp_path, f"sleep 30 & echo $! > {pid_file}; wait", 0.5, env)
    assert slow.timed_out and not slow.passed and slow.exit_code is None
    child = int(pid_file.read_text())
    assert _dead(child)  # the background child died with its group, not just the shell


def test_the_test_command_gets_a_clean_environment(tmp_path: Path) -> None:
    aimon_env = {
        "PATH": "/usr/bin:/bin", "HOME": "/home/svc", "LANG": "C.UTF-8", "CARGO_HOME": "/opt/cargo",
        "GITHUB_TOKEN": "ghp_x", "OPENAI_API_KEY": "sk-x", "DISCORD_WEBHOOK_URL": "https://discord/x",
        "DATABASE_URL": "postgres://svc:pw@db/prod", "AWS_SECRET_ACCESS_KEY": "a", "AIMON_REPO_DIR": "/srv/app",
        "RUSTFLAGS": "-Dwarnings", "SSH_AUTH_SOCK": "/tmp/agent",
    }
    env = worktree.test_environment(aimon_env, ("RUSTFLAGS", "GITHUB_TOKEN", "AIMON_REPO_DIR"), ("GITHUB_TOKEN", "OPENAI_API_KEY"))
    assert env == {
        "PATH": "/usr/bin:/bin", "HOME": "/home/svc", "LANG": "C.UTF-8", "CARGO_HOME": "/opt/cargo", "RUSTFLAGS": "-Dwarnings",
        "CARGO_NET_OFFLINE": "true", "CARGO_TERM_COLOR": "never",
    }
    seen = worktree.run_tests(tmp_path, "env | sort", 30, env)
    shown = dict(line.split("=", 1) for line in seen.output_tail.splitlines())
    shell_own = {"PWD", "SHLVL", "_", "OLDPWD"}  # what the shell itself sets
    assert {k: v for k, v in shown.items() if k not in shell_own} == env
    # An allowlisted name takes aimon's value over the offline default: the way to let cargo fetch, deliberately.
    assert worktree.test_environment({"CARGO_NET_OFFLINE": "false"}, ("CARGO_NET_OFFLINE",), ())["CARGO_NET_OFFLINE"] == "false"


def test_only_the_edited_files_are_committed(clone: Path) -> None:
    _, commit = worktree.default_branch(clone, fetch=False)
    with worktree.worktree(clone, commit) as tree:
        (tree / "src" / "lib.rs").write_text("pub fn b() {}\n")
        (tree / "target" / "debug").mkdir(parents=True)
        (tree / "target" / "debug" / "app").write_text("binary")
        (tree / "Cargo.lock").write_text("rewritten by cargo\n")
        (tree / "stray.txt").write_text("left by the tests\n")
        worktree.commit_paths(tree, "aimon <aimon@example.com>", "fix", ["src/lib.rs"])
        assert git(tree, "show", "--name-only", "--format=", "HEAD").split() == ["src/lib.rs"]


def _dead(pid: int) -> bool:
    # A killed orphan may linger as a zombie until init reaps it: that counts as dead.
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False
