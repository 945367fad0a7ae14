"""One error format for the whole API, the same as FastAPI's 422 body.

Every error answers ``{"detail": [{"loc": [...], "msg": ..., "type": ..., "input": ...}]}``:
``loc`` names the field, ``input`` the value received and ``msg`` the rule it broke.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException

__all__ = ["field_error", "short"]


def short(value: Any, limit: int = 120) -> Any:
    """``value`` itself when small, else a truncated text (errors never echo a whole upload)."""
    if isinstance(value, int | float | bool) or value is None:
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def field_error(
    loc: Sequence[str | int], value: Any, rule: str, status: int = 422, kind: str = "value_error",
    headers: dict[str, str] | None = None,
) -> HTTPException:
    """An HTTP error naming the field (``loc``), the value received and the rule."""
    return HTTPException(
        status_code=status,
        detail=[{"loc": list(loc), "msg": rule, "type": kind, "input": short(value)}],
        headers=headers,
    )
