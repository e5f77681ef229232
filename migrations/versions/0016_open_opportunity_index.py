"""open opportunities of a scope by id (issue 6): contact frequency at group level under 1 s

The contact-frequency report joins a month of activities to the scope's open opportunities; without this index
PostgreSQL reads the whole opportunity table for their ids (1M rows, ~180 MB: 1.06 s at group level in
bench/reports.py); this partial index holds only the open ones with the scope columns (index-only: 0.57 s).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 01:55:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_opportunity_open_owner', 'opportunity', ['sector_id', 'owner_id', 'id'],
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_index('ix_opportunity_open_owner', table_name='opportunity')
