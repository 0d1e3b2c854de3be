"""Autofix's parts: eligibility, the guard, search/replace edits, the git worktree, the prompt, the pull request.

The stage itself is :func:`aimon.stages.autofix.stage.run_autofix`.
"""
