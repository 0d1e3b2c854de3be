"""Structured answers: the JSON Schema sent for a pydantic model (strict mode's shape) and the validation of the
reply with the same model, its first problem said in one line the model can act on (the repair prompt quotes it)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)


def schema_note(schema: dict[str, Any]) -> str:
    """The schema in words, for a server that takes JSON mode but not a JSON Schema."""
    return ("Answer with one JSON object that validates against this JSON Schema (every property required, no other "
            f"properties):\n{json.dumps(schema, ensure_ascii=False)}")


def parse_answer(content: str | None, answer: type[M]) -> M | str:
    """The validated answer, or what is wrong with it: one line the model can act on."""
    if not content:
        return "the reply was empty, refused or cut off"
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(data, dict):
        return "not a JSON object"
    try:
        return answer.model_validate(data)
    except ValidationError as exc:
        return _describe(exc.errors()[0])


def _describe(error: ErrorDetails) -> str:
    """One validation error as ``where: what`` (``where`` is the JSON path, ``(top level)`` for the object itself)."""
    loc = tuple(error["loc"])
    kind, value, limits = error["type"], error["input"], error.get("ctx") or {}
    if kind == "missing":
        return f"{_where(loc[:-1])}: {loc[-1]!r} is a required property"
    if kind == "extra_forbidden":
        return f"{_where(loc[:-1])}: Additional properties are not allowed ({loc[-1]!r} was unexpected)"
    if kind == "less_than_equal":
        return f"{_where(loc)}: {value!r} is greater than the maximum of {limits['le']:g}"
    if kind == "greater_than_equal":
        return f"{_where(loc)}: {value!r} is less than the minimum of {limits['ge']:g}"
    return f"{_where(loc)}: {error['msg']} (got {repr(value)[:200]})"


def _where(loc: tuple[Any, ...]) -> str:
    return "/".join(str(part) for part in loc) or "(top level)"


# Bounds the answer is validated against on our side but that the schema sent leaves out: strict mode has not accepted
# all of them, and OpenAI-compatible servers differ in which they accept.
_CHECKED_HERE = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


def response_schema(answer: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema sent for ``answer``, in the shape strict mode wants: every property required, no other properties,
    nested models inlined. Pydantic's titles and the models' docstrings stay out: the field descriptions are what the
    LLM reads."""
    generated = answer.model_json_schema()
    generated.pop("description", None)
    models = {name: {k: v for k, v in node.items() if k != "description"} for name, node in generated.pop("$defs", {}).items()}

    def strict(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            node = {**models[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        out = {key: value for key, value in node.items() if key != "title" and key not in _CHECKED_HERE}
        if "properties" in node:
            out["properties"] = {name: strict(prop) for name, prop in node["properties"].items()}
            out["required"] = list(node["properties"])
            out["additionalProperties"] = False
        if isinstance(node.get("items"), dict):
            out["items"] = strict(node["items"])
        if "anyOf" in node:
            out["anyOf"] = [strict(variant) for variant in node["anyOf"]]
        return out

    return strict(generated)
