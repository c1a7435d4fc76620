"""Sinks: where closed factor rows go."""
