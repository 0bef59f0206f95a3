"""Measuring: the trainers at each dispatch granularity, clocks and profiles, runs and sessions
in fresh processes, records, the campaign and its estimates, and the evidence items."""
