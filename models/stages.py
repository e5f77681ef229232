"""Opportunity stages per sector (F1): the default list, which each sector may change.

A sector's stages are rows of `opportunity_stage` (code, zh/en name, win probability, position,
outcome won|lost|None). `crm setup` gives every sector without stages the default list; a sector
admin may then change its own list (rename, re-weight, add or remove stages) without code.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.org import Sector
from models.sales import DEFAULT_STAGES, OpportunityStage

OUTCOMES = {"won": "won", "lost": "lost"}


def default_stage_rows(sector_id: int) -> list[OpportunityStage]:
    return [OpportunityStage(sector_id=sector_id, code=code, name_zh=zh, name_en=en, probability=prob,
                             position=(i + 1) * 10, outcome=OUTCOMES.get(code))
            for i, (code, zh, en, prob) in enumerate(DEFAULT_STAGES)]


def ensure_default_stages(session: Session) -> None:
    """Give every sector without stages the default list (idempotent)."""
    with_stages = set(session.scalars(select(OpportunityStage.sector_id).distinct()))
    for sector_id in session.scalars(select(Sector.id).order_by(Sector.id)):
        if sector_id not in with_stages:
            session.add_all(default_stage_rows(sector_id))
    session.flush()


def stages_for(session: Session, sector_id: int | None) -> list[OpportunityStage]:
    """A sector's stages in board order; the default list is created on first use."""
    if sector_id is None:
        return []
    rows = list(session.scalars(select(OpportunityStage).where(OpportunityStage.sector_id == sector_id)
                                .order_by(OpportunityStage.position, OpportunityStage.id)))
    return rows


def stage_of(session: Session, sector_id: int, code: str) -> OpportunityStage | None:
    return session.scalar(select(OpportunityStage).where(OpportunityStage.sector_id == sector_id,
                                                         OpportunityStage.code == code))


def stage_label(stage: OpportunityStage, locale: str = "zh") -> str:
    return stage.name_zh if locale == "zh" else stage.name_en
