"""ranking rules kept with a closed month (issue 6): later settings changes do not relabel it

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 01:30:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rep_ranking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rules', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rep_ranking', schema=None) as batch_op:
        batch_op.drop_column('rules')
