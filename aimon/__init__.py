"""aimon: log-driven incident detection, diagnosis, alerting and guarded autofix."""

__version__ = "0.1.0"
PROJECT_URL = "https://pypi.org/project/aimon/"
