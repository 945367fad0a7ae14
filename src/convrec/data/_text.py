"""Small text tests shared by the dataset readers (the ratings reader, the digit CSV reader)."""

from __future__ import annotations

__all__ = ["is_number"]


def is_number(text: str) -> bool:
    """True when ``text`` parses as a float (``"3"``, ``"4.5"``, ``"1e3"``): how the readers
    tell a header line (``userId,movieId,...``) from a first data line."""
    try:
        float(text)
    except ValueError:
        return False
    return True
