"""The shape of a diagnosis: what the LLM must return, what the offline diagnoser and memory produce, what is stored.

:data:`SCHEMA` is what is sent to the endpoint (OpenAI strict mode: every property required, no additional
properties, and only keywords strict mode accepts). :data:`STRICT_SCHEMA` adds bounds that we check on our side.
"""

from __future__ import annotations

import copy
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
CATEGORIES = (
    "connectivity",
    "timeout",
    "dns",
    "tls",
    "resource-exhaustion",
    "database",
    "panic",
    "concurrency",
    "runtime-misuse",
    "configuration",
    "upstream",
    "rate-limit",
    "serialization",
    "validation",
    "permission",
    "storage",
    "memory",
    "logic",
    "unknown",
)
SCHEMA_NAME = "diagnosis"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "title",
        "summary",
        "root_cause",
        "evidence",
        "suggested_fix",
        "severity",
        "category",
        "auto_fixable",
        "auto_fixable_reason",
        "confidence",
        "insufficient_evidence",
    ],
    "properties": {
        "title": {"type": "string", "description": "One line (under 100 characters) naming the failure, not the symptom."},
        "summary": {"type": "string", "description": "Two or three sentences: what fails, for whom, since when, how often."},
        "root_cause": {"type": "string", "description": "The most likely cause, grounded in the data; say what is inferred."},
        "evidence": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Context lines that support the diagnosis, each starting with its reference, e.g. '[T3] ...' or '[src/db.rs:42] ...'.",
        },
        "suggested_fix": {"type": "string", "description": "What to change or check first, concretely (file, function, setting)."},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "auto_fixable": {"type": "boolean", "description": "True only for a small, local, low-risk code change in the shown source."},
        "auto_fixable_reason": {"type": "string"},
        "confidence": {"type": "number", "description": "0 to 1: how sure the diagnosis is, given the evidence."},
        "insufficient_evidence": {"type": "boolean", "description": "True when the data does not support a confident cause."},
    },
}

STRICT_SCHEMA: dict[str, Any] = copy.deepcopy(SCHEMA)
STRICT_SCHEMA["properties"]["title"]["maxLength"] = 200
STRICT_SCHEMA["properties"]["title"]["minLength"] = 1
STRICT_SCHEMA["properties"]["summary"]["maxLength"] = 2000
STRICT_SCHEMA["properties"]["root_cause"]["maxLength"] = 4000
STRICT_SCHEMA["properties"]["suggested_fix"]["maxLength"] = 4000
STRICT_SCHEMA["properties"]["evidence"]["maxItems"] = 20
STRICT_SCHEMA["properties"]["evidence"]["items"]["maxLength"] = 1000
STRICT_SCHEMA["properties"]["confidence"]["minimum"] = 0
STRICT_SCHEMA["properties"]["confidence"]["maximum"] = 1


def validate(result: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``result`` is not a valid diagnosis (used on every stored row)."""
    import jsonschema

    jsonschema.validate(result, STRICT_SCHEMA, cls=jsonschema.Draft202012Validator)
