"""Where log lines come from: files on disk (:mod:`aimon.logs.files`) and Grafana Loki (:mod:`aimon.logs.loki`).

Every source feeds one :class:`aimon.stages.scan.stage.Aggregator`: ``add(source_key, offset, record)`` for each record read,
``add_lines(n)`` / ``add_malformed(reason)`` for what was read, then ``commit(write_checkpoint)``, which records the
groups, counts and detections and calls ``write_checkpoint(conn)`` in the same transaction. A source moves its own
checkpoint only there, so a scan killed at any point never counts a line twice nor skips one.
"""
