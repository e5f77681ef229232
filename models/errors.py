"""The one root of every refusal an operation raises (models and engine alike).

Each error carries its HTTP status, a message and, when an input is at fault, `errors` naming the field;
the API turns any of them into `{"message", "errors", …}` in one place (web/api/__init__.py).
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message

    @property
    def errors(self) -> dict[str, list[str]] | None:
        return None

    def body(self) -> dict[str, Any]:
        """The JSON an API client receives."""
        out: dict[str, Any] = {"message": self.message}
        if self.errors:
            out["errors"] = self.errors
        return out
