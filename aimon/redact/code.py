"""Secrets in source snippets, markup and manifests: string literals bound to a secret-like name or passed where a
credential goes (``const KEY: &[u8] = b"…"``, ``static JWT_SECRET: &str = "…"``, ``.basic_auth("svc", Some("…"))``,
``.header("X-Api-Key", "…")``), XML elements and ``key=… value=…`` settings, and the values of a Kubernetes Secret's
``data:`` block. Quotes may be escaped (a snippet inside a JSON string) and lines may be ``\\n`` escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from aimon.redact.forms import AMBIGUOUS_RE, SECRET_KEY_RE, kind_of, word_like
from aimon.redact.placeholders import Span
from aimon.redact.shapes import says_nothing

_Q = r'\\?"'  # a quote, or an escaped one (a snippet inside a JSON string)
_LITERAL = r'(?P<value>[^"\\\n]*)'
_SOURCE_BINDING = re.compile(
    r"""(?<![\w])(?:const|static|let|var|val|final)\s+(?:mut\s+|ref\s+)?(?P<name>[A-Za-z_]\w*)\s*(?::\s*[^=;\n]{1,60}?)?\s*=\s*"""
    r"""(?:&?(?:b|br|r)#*|(?:String::from|Some|[A-Z]\w*::(?:new|from))\(\s*)?""" + _Q + _LITERAL + _Q
)
_SOURCE_CALL = re.compile(
    r"""(?i)\.(?:(?P<basic>basic_auth)\(\s*""" + _Q + r"""[^"\\\n]*""" + _Q + r"""\s*,\s*(?:Some\(\s*)?"""
    r"""|(?P<method>bearer_auth|(?:set_|with_)?password|token|api_key|secret)\(\s*)""" + _Q + _LITERAL + _Q
)
_SOURCE_HEADER = re.compile(
    r"""\(\s*(?:HeaderName::from_static\(\s*)?""" + _Q + r"""(?P<name>[A-Za-z0-9_-]{2,40})""" + _Q + r"""\)?\s*,\s*"""
    r"""(?:HeaderValue::from_static\(\s*)?(?:&?format!\(\s*)?""" + _Q + _LITERAL + _Q
)
_K8S_DATA = re.compile(r"(?:data|stringData):[ \t]*(?=\n|\\+n)")
_LINE_BREAK = re.compile(r"\n|\\+n")
_K8S_LINE = re.compile(r"(?P<indent>[ \t]+)[\"']?[\w.-]+[\"']?:[ \t]*[\"']?(?P<value>[^\"'\\\n]*[^\"'\\\s])")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]{4,}={0,2}$")
_XML_ELEMENT = re.compile(r"<(?P<name>[\w.:-]{2,40})>(?P<value>[^<\n\"\\]{1,200})</(?P=name)>")
_XML_SETTING = re.compile(r"key\s*=\s*" + _Q + r"(?P<name>[^\"\\\n]{2,60})" + _Q + r"\s+value\s*=\s*" + _Q + _LITERAL + _Q)


def source_literals(text: str) -> Iterator[Span]:
    """String literals bound to a secret-like name or passed where a credential goes, in source snippets."""
    if '"' not in text:
        return
    for match in _SOURCE_BINDING.finditer(text):
        name, value = match.group("name"), match.group("value")
        strong = SECRET_KEY_RE.match(name) and not AMBIGUOUS_RE.match(name)
        keyish = re.search(r"(?i)(?:^|_)(?:key|salt|pepper|hmac)$", name)
        if value and not says_nothing(value) and (strong or (keyish and not word_like(value))):
            yield match.start("value"), match.end("value"), kind_of(name)
    for match in _SOURCE_CALL.finditer(text):
        if match.group("value") and not says_nothing(match.group("value")):
            yield match.start("value"), match.end("value"), "password" if match.group("basic") else kind_of(match.group("method"))
    for match in _SOURCE_HEADER.finditer(text):
        name = match.group("name").lower()
        if match.group("value") and not says_nothing(match.group("value")) and (SECRET_KEY_RE.match(name) or name in ("x-api-key", "api-key", "private-token")):
            yield match.start("value"), match.end("value"), "authorization" if name.endswith("authorization") else "api-key"


def kubernetes_data(text: str) -> Iterator[Span]:
    """The values of a Kubernetes Secret's ``data:``/``stringData:`` block (YAML, also inside a JSON string)."""
    if "ata:" not in text:
        return
    secret_manifest = re.search(r"kind:[ \t]*\"?Secret\b", text) is not None
    for block in _K8S_DATA.finditer(text):
        indent = _indent_before(text, block.start())
        if indent < 0:
            continue
        position = block.end()
        for line_start, line in _lines_after(text, position):
            found = _K8S_LINE.match(line)
            if not found or len(found.group("indent")) <= indent:
                break
            value = found.group("value")
            if secret_manifest or (_BASE64.match(value) and len(value) % 4 == 0 and len(value) >= 8):
                yield line_start + found.start("value"), line_start + found.end("value"), "k8s-secret"


def _indent_before(text: str, index: int) -> int:
    """How far ``data:`` at ``index`` is indented on its line (a quote may open the line: a JSON string); -1 when
    something else comes before it on the line."""
    start = index
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    if start == 0 or text[start - 1] in "\n\"'" or text.endswith("\\n", 0, start):
        return index - start
    return -1


def _lines_after(text: str, position: int) -> Iterator[tuple[int, str]]:
    """The lines after ``position`` (which is at a line break), split at real newlines or ``\\n`` escapes."""
    breaks = _LINE_BREAK.finditer(text, position)
    current = next(breaks, None)
    while current is not None and current.start() < len(text):
        following = next(breaks, None)
        end = following.start() if following is not None else len(text)
        yield current.end(), text[current.end():end]
        current = following


def markup(text: str) -> Iterator[Span]:
    """``<password>…</password>`` and ``<add key="ApiKey" value="…"/>`` (XML configuration, SOAP faults)."""
    if "<" not in text and "value" not in text:
        return
    for pattern in (_XML_ELEMENT, _XML_SETTING):
        for match in pattern.finditer(text):
            name, value = match.group("name"), match.group("value")
            if SECRET_KEY_RE.match(name.rsplit(":", 1)[-1]) and not AMBIGUOUS_RE.match(name) and value and not says_nothing(value):
                yield match.start("value"), match.end("value"), kind_of(name)
