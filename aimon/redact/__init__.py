"""One redactor for every text that leaves the machine (LLM prompts, Discord alerts, GitHub issues and PRs).

Masks credentials and personal data with placeholders that keep their meaning: ``<secret:aws-key#1>`` names the kind
and numbers the value, stable within one :class:`Redactor` (the same value is always the same placeholder, so a
reader or the LLM still sees that two lines carry one token), and only the value goes, so structure stays
(``postgres://app:<secret:password#1>@db:5432/app``).

What is masked, first claim wins (specific shapes before generic ones):

1. the user's patterns from ``aimon.toml`` (``[redaction] patterns``; group 1 when the regex has a group);
2. private-key blocks (PEM, also inside JSON strings with ``\\n`` escapes, and PuTTY), webhook URLs' credentials
   (Slack, Discord, Teams, Zapier, Telegram, generic ``/hooks/…``), provider tokens by shape (AWS, GCP, GitHub,
   GitLab, CI, Slack, Discord, Telegram, Stripe, SendGrid, Mailgun, Mailchimp, Twilio, npm, PyPI, Hugging Face,
   Vault, OpenAI, Anthropic and other LLM providers, age, JWTs), URL and DSN passwords (of any scheme);
3. credential headers and ``Bearer``/``Basic`` credentials anywhere (not the scheme word in prose);
4. source literals bound to a secret-like name or passed where a credential goes, Kubernetes Secret ``data:`` values,
   command-line passwords, prose passwords and SQL ``IDENTIFIED BY``, ``key=value`` pairs in every notation,
   environment-style names, high-entropy strings after a secret-like name, and bare AWS secret keys;
5. e-mail addresses and IP addresses (as the settings choose: :mod:`aimon.redact.personal`), card numbers.
"""

from __future__ import annotations

from aimon.redact.placeholders import IP_MODES, PLACEHOLDER, PLACEHOLDER_PATTERN, is_placeholder
from aimon.redact.redactor import Redactor, redact_text

__all__ = ["IP_MODES", "PLACEHOLDER", "PLACEHOLDER_PATTERN", "Redactor", "is_placeholder", "redact_text"]
