"""account changes (issue 4)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 17:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('account_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('target_user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=80), nullable=True),
    sa.Column('display_name', sa.String(length=120), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('roles_add', JSON, nullable=True),
    sa.Column('roles_remove', JSON, nullable=True),
    sa.Column('successor_id', sa.Integer(), nullable=True),
    sa.Column('staff_change_date', sa.Date(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('result', JSON, nullable=True),
    sa.Column('process_instance_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'], name=op.f('fk_account_change_decided_by_app_user')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'],
                            name=op.f('fk_account_change_department_id_department')),
    sa.ForeignKeyConstraint(['process_instance_id'], ['process_instance.id'],
                            name=op.f('fk_account_change_process_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_account_change_sector_id_sector')),
    sa.ForeignKeyConstraint(['submitted_by'], ['app_user.id'], name=op.f('fk_account_change_submitted_by_app_user')),
    sa.ForeignKeyConstraint(['successor_id'], ['app_user.id'], name=op.f('fk_account_change_successor_id_app_user')),
    sa.ForeignKeyConstraint(['target_user_id'], ['app_user.id'],
                            name=op.f('fk_account_change_target_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_change'))
    )
    with op.batch_alter_table('account_change', schema=None) as batch_op:
        batch_op.create_index('ix_account_change_sector_status', ['sector_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_account_change_target', ['target_user_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_change_process_instance_id'), ['process_instance_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('account_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_change_process_instance_id'))
        batch_op.drop_index('ix_account_change_target')
        batch_op.drop_index('ix_account_change_sector_status')
    op.drop_table('account_change')
