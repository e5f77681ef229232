"""Attachments per stage on opportunities (F1).

The bytes live content-addressed under `<instance>/attachments/<sha256>` (the caller passes the directory);
the row holds the name, size, type, stage and who uploaded it. Only the opportunity's owner uploads (E4: its
progress is his); whoever may see the opportunity downloads; anyone else gets 404.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import audit, clock
from models.leads import NotVisible, Refused
from models.opportunities import owned_opportunity, visible_opportunity
from models.org import User
from models.sales import Attachment
from models.stages import stage_of

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ENTITY = "opportunity"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\\"<>|:*?]")


def safe_filename(name: str | None) -> str:
    """The last path part, without control or shell characters, at most 200 characters; never empty."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if not 0xD800 <= ord(ch) <= 0xDFFF)
    base = _UNSAFE.sub("_", base).strip(" .")
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 190] + dot + ext[:9]) if dot and len(ext) < 10 else base[:200]
    return base or "attachment"


def _store(directory: Path, data: bytes, digest: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / digest
    if target.exists():
        return
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_attachment(session: Session, user: User, opportunity_id: int, *, filename: str | None, content_type: str | None,
                   data: bytes | None, directory: Path, stage_code: str | None = None,
                   max_bytes: int = MAX_ATTACHMENT_BYTES) -> Attachment:
    opp = owned_opportunity(session, user, opportunity_id)
    if data is None:
        raise Refused("send the file as multipart field 'file'", "file")
    if not data:
        raise Refused("the file is empty", "file")
    if len(data) > max_bytes:
        raise Refused(f"a file may have at most {max_bytes // (1024 * 1024)} MB", "file")
    code = stage_code or opp.stage_code
    if not isinstance(code, str) or stage_of(session, opp.sector_id, code) is None:
        raise Refused("one of the sector's stages", "stage_code")
    digest = hashlib.sha256(data).hexdigest()
    _store(directory, data, digest)
    kind = (content_type or "application/octet-stream").split(";")[0].strip()[:100]
    if not re.fullmatch(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+", kind):
        kind = "application/octet-stream"
    row = Attachment(sector_id=opp.sector_id, entity_type=ENTITY, entity_id=opp.id, stage_code=code,
                     filename=safe_filename(filename), content_type=kind, size=len(data), sha256=digest,
                     uploaded_by=user.id, uploaded_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session, actor_id=user.id, action="attachment.add", entity_type=ENTITY, entity_id=opp.id,
                 sector_id=opp.sector_id, after={"attachment_id": row.id, "filename": row.filename,
                                                 "size": row.size, "sha256": digest, "stage_code": code})
    return row


def attachments_of(session: Session, user: User, opportunity_id: int) -> list[Attachment]:
    visible_opportunity(session, user, opportunity_id)
    return list(session.scalars(select(Attachment).where(Attachment.entity_type == ENTITY,
                                                         Attachment.entity_id == opportunity_id)
                                .order_by(Attachment.uploaded_at, Attachment.id)))


def attachment_for_download(session: Session, user: User, attachment_id: int, directory: Path) -> tuple[Attachment, Path]:
    """The row and the file path, only for a user who may see the opportunity (else 404)."""
    row = session.get(Attachment, attachment_id)
    if row is None or row.entity_type != ENTITY:
        raise NotVisible(f"attachment {attachment_id} not found")
    try:
        visible_opportunity(session, user, row.entity_id)
    except NotVisible:
        raise NotVisible(f"attachment {attachment_id} not found") from None
    path = directory / row.sha256
    if not re.fullmatch(r"[0-9a-f]{64}", row.sha256) or not path.is_file():
        raise NotVisible(f"attachment {attachment_id} not found")
    return row, path
