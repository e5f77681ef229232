"""Connectors: the only things a service task may call. Each is a named operation with declared parameters.

Diagrams name a connector in `spiffworkflow:serviceTaskOperator id="..."`; deployment refuses
unknown names and unknown parameters, so business staff can wire processes but not run code.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session


@dataclass
class ConnectorContext:
    """What a connector may touch: the open transaction, the instance, and who acted."""

    session: Session
    instance: Any  # models.process.ProcessInstance
    actor_id: int | None


@dataclass(frozen=True)
class Connector:
    name: str
    func: Callable[..., Any]
    params: dict[str, type] = field(default_factory=dict)
    description: str = ""


REGISTRY: dict[str, Connector] = {}


def connector(name: str, description: str = "", **params: type):
    """Register `func(ctx, **params)` as connector `name`."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = Connector(name, func, params, description)
        return func

    return wrap


class ConnectorError(RuntimeError):
    pass


def call(ctx: ConnectorContext, name: str, raw_params: dict[str, dict]) -> Any:
    conn = REGISTRY.get(name)
    if conn is None:
        raise ConnectorError(f"unknown connector {name!r}")
    values = {k: v.get("value") if isinstance(v, dict) else v for k, v in raw_params.items()}
    unknown = set(values) - set(conn.params)
    if unknown:
        raise ConnectorError(f"connector {name!r} has no parameter(s) {sorted(unknown)}")
    for key, typ in conn.params.items():
        if key not in values:
            raise ConnectorError(f"connector {name!r} needs parameter {key!r}")
        if not isinstance(values[key], typ):
            raise ConnectorError(f"connector {name!r}: parameter {key!r} must be {typ.__name__}")
    return conn.func(ctx, **values)
