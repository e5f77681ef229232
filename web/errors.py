"""Run one write operation in the request's transaction and turn engine errors into statuses."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import Conflict, EngineError, InvalidData
from models.base import write_transaction
from web.db import db

T = TypeVar("T")


def run_write(operation: Callable[[], T]) -> T:
    """Commit on success; roll back and re-raise as EngineError on failure (nothing half-written)."""
    session = db()
    try:
        with write_transaction(session):
            result = operation()
            session.commit()
        return result
    except EngineError:
        session.rollback()
        raise
    except DataError as exc:  # a value the database refuses (out of range, NUL in text)
        session.rollback()
        raise InvalidData({"_input": ["a value is out of range or contains characters that are not allowed"]}) from exc
    except StaleDataError as exc:  # a versioned row (a draft's lock_version) was saved by someone else meanwhile
        session.rollback()
        raise Conflict("someone else saved this meanwhile; reload it to see their changes") from exc
    except (OperationalError, IntegrityError) as exc:
        # lock timeout, serialization failure, or a unique key taken by a concurrent writer
        session.rollback()
        raise Conflict("the record is busy or was changed by someone else; retry") from exc
    except Exception:
        session.rollback()
        raise
