"""Where log lines come from: files on disk (:mod:`aimon.logs.files`, read by :mod:`aimon.logs.reader`) and Grafana
Loki (:mod:`aimon.logs.loki`).

This layer reads and parses; it knows nothing of error groups. A file read folds its records into a batch that the
caller makes (:class:`aimon.logs.reader.RecordBatch`), and a source's checkpoint (:mod:`aimon.state.checkpoints`) is
written by the caller in the transaction that records what the read produced, so a scan killed at any point never
counts a line twice nor skips one.
"""
