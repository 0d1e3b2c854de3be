"""Diagnosis: for every detected error, a structured diagnosis from the LLM, pattern memory or the offline diagnoser.

The stage itself lives in :mod:`aimon.stages.diagnose.stage`; what other stages read of a diagnosis is in
:mod:`aimon.state.diagnoses`.
"""
