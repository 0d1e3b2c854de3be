"""Where aimon's findings go: Discord alerts (``discord``), GitHub issues (``github_issues``), draft PRs (``autofix``).

Each sink is a stage over the outbox (``outbox``): it sends what is pending and due and records the outcome in the
same transaction as its state change, so a crash or an outage delays a message but never loses or doubles it.
Heavy imports (``requests``, ``github``) happen only in the modules that talk to the remote side.
"""
