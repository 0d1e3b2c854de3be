"""The scan over Grafana Loki (``AIMON_SOURCE=loki``): every page the reader returns is one commit.

The reader (:mod:`aimon.logs.loki`) pages through the query from the stored cursor; each page's records go into the
aggregator and are committed together with the cursor after them, so a tick killed between pages reads the next page
again and nothing twice.
"""

from __future__ import annotations

from aimon.logs import loki
from aimon.logs.parsing import Malformed, iter_records
from aimon.runtime import Context
from aimon.stages.scan.aggregate import Aggregator
from aimon.state.db import iso


def feed(ctx: Context, aggregator: Aggregator, since_ts: float | None) -> list[str]:
    """Read what is new in Loki into the scan's aggregator, one commit (records + checkpoint) per page.

    With ``since_ts`` (``--since``) the window starts there and nothing is stored. Returns notes for the scan report.
    """
    settings = ctx.settings
    reader = loki.LokiReader.from_settings(settings)
    key = loki.source_key(settings)
    end = loki.query_end()
    read_only = since_ts is not None
    stored = None if read_only else loki.load_cursor(ctx.db, key)
    if since_ts is not None:
        cursor = loki.Cursor(int(since_ts * 1e9))
    else:
        cursor = stored or loki.Cursor(end - int(loki.INITIAL_LOOKBACK_SECONDS * 1e9))
    notes: list[str] = []
    if stored is None and not read_only:
        notes.append(f"first read: from {iso(cursor.ns / 1e9)}")
    for page in reader.pages(cursor, end, ctx.deadline):
        for entry in page.entries:
            # Each entry on its own: a multi-line entry (a shipper's multiline stage) is one panic with its message.
            lines = [(0, line.encode("utf-8", errors="replace")) for line in entry.line.split("\n")]
            for _offset, item in iter_records(lines, settings.sources.log_format, settings.sources.error_code_fields):
                if isinstance(item, Malformed):
                    aggregator.add_malformed(item.reason)
                else:
                    aggregator.add(key, None, item, entry.ns / 1e9)
        aggregator.add_lines(len(page.entries))
        if page.skipped:
            notes.append(f"more than {reader.max_limit} lines at one timestamp; some of them were skipped")
        moved = page.cursor != cursor or stored is None
        write = None if read_only or not moved else (lambda conn, reached=page.cursor: loki.save_cursor(conn, key, reached))
        aggregator.commit(write)
        stored, cursor = stored or page.cursor, page.cursor
    if cursor.ns < end and ctx.deadline.expired():
        notes.append("tick budget spent; the rest is read next tick")
    return notes
