"""aimon: log-driven incident detection, diagnosis, alerting and guarded autofix."""

__version__ = "0.1.0"
# Where the client says it comes from (Discord's User-Agent). aimon has no public home of its own yet (the name on PyPI
# is another project), so this is a reserved name (RFC 2606) that can never be somebody else's site.
PROJECT_URL = "https://aimon.invalid/"
