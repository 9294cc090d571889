"""Timing harness, statistics and memory tracking. Sees only the Backend interface."""
