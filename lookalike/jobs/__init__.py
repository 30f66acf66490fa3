"""Prompt jobs: the queue (a table), the in-process worker, and callbacks."""
