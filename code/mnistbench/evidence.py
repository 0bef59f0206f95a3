"""Measurements of *why* the frameworks differ (filled in by the evidence work)."""


def add_evidence_parser(commands) -> None:
    return None
