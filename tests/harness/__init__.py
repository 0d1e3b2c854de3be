"""Test harnesses that run aimon the way cron does: a log writer with ground truth, and a runner that kills it."""
