"""lead routing: routing rules, priorities (issue 4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 17:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lead_routing_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('region', sa.String(length=60), nullable=True),
    sa.Column('industry', sa.String(length=60), nullable=True),
    sa.Column('target_user_id', sa.Integer(), nullable=True),
    sa.Column('target_department_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_lead_routing_rule_created_by_app_user')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_lead_routing_rule_sector_id_sector')),
    sa.ForeignKeyConstraint(['target_department_id'], ['department.id'],
                            name=op.f('fk_lead_routing_rule_target_department_id_department')),
    sa.ForeignKeyConstraint(['target_user_id'], ['app_user.id'],
                            name=op.f('fk_lead_routing_rule_target_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_routing_rule'))
    )
    with op.batch_alter_table('lead_routing_rule', schema=None) as batch_op:
        batch_op.create_index('ix_lead_routing_rule_sector_active', ['sector_id', 'active', 'position'], unique=False)

    op.create_table('routing_priority',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('set_by', sa.Integer(), nullable=True),
    sa.Column('set_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_routing_priority_sector_id_sector')),
    sa.ForeignKeyConstraint(['set_by'], ['app_user.id'], name=op.f('fk_routing_priority_set_by_app_user')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_routing_priority_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_priority')),
    sa.UniqueConstraint('sector_id', 'month', 'user_id', name=op.f('uq_routing_priority_sector_id_month_user_id'))
    )


def downgrade() -> None:
    op.drop_table('routing_priority')
    with op.batch_alter_table('lead_routing_rule', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_routing_rule_sector_active')
    op.drop_table('lead_routing_rule')
