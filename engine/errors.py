"""Errors the engine raises; the web layer maps each to one HTTP status."""
from __future__ import annotations

from models.errors import DomainError


class EngineError(DomainError):
    status = 400


class NotFound(EngineError):
    status = 404


class Forbidden(EngineError):
    status = 403


class Conflict(EngineError):
    """The task or instance changed under us (already completed, lost race): 409."""

    status = 409


class InvalidData(EngineError):
    """Form data that does not fit the task: 422 with field messages."""

    status = 422

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self._errors = errors

    @property
    def errors(self) -> dict[str, list[str]]:
        return self._errors


class ProcessError(EngineError):
    """The diagram itself failed while running (bad expression, no matching gateway flow)."""

    status = 422
