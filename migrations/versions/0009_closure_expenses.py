"""opportunity closure (F2) and expense claims (U5) (issue 4)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 17:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('opportunity_closure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('opportunity_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('stage_code', sa.String(length=40), nullable=False),
    sa.Column('stage_set_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('contract_ref', sa.String(length=100), nullable=True),
    sa.Column('winner', sa.String(length=100), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_by', sa.Integer(), nullable=True),
    sa.Column('process_instance_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_opportunity_closure_sector_id_sector')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'],
                            name=op.f('fk_opportunity_closure_department_id_department')),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunity.id'],
                            name=op.f('fk_opportunity_closure_opportunity_id_opportunity')),
    sa.ForeignKeyConstraint(['owner_id'], ['app_user.id'], name=op.f('fk_opportunity_closure_owner_id_app_user')),
    sa.ForeignKeyConstraint(['closed_by'], ['app_user.id'], name=op.f('fk_opportunity_closure_closed_by_app_user')),
    sa.ForeignKeyConstraint(['confirmed_by'], ['app_user.id'],
                            name=op.f('fk_opportunity_closure_confirmed_by_app_user')),
    sa.ForeignKeyConstraint(['process_instance_id'], ['process_instance.id'],
                            name=op.f('fk_opportunity_closure_process_instance_id_process_instance')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_closure'))
    )
    with op.batch_alter_table('opportunity_closure', schema=None) as batch_op:
        batch_op.create_index('ix_opportunity_closure_opportunity', ['opportunity_id', 'status'], unique=False)
        batch_op.create_index('ix_opportunity_closure_due', ['status', 'due_at'], unique=False)

    op.create_table('expense_claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=30), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('claimant_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('opportunity_id', sa.Integer(), nullable=True),
    sa.Column('progress_stage_code', sa.String(length=40), nullable=True),
    sa.Column('progress_stage_name', sa.String(length=60), nullable=True),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('spent_on', sa.Date(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('process_instance_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_expense_claim_sector_id_sector')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_expense_claim_department_id_department')),
    sa.ForeignKeyConstraint(['claimant_id'], ['app_user.id'], name=op.f('fk_expense_claim_claimant_id_app_user')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_expense_claim_customer_id_customer')),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunity.id'],
                            name=op.f('fk_expense_claim_opportunity_id_opportunity')),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_expense_claim_activity_id_activity')),
    sa.ForeignKeyConstraint(['process_instance_id'], ['process_instance.id'],
                            name=op.f('fk_expense_claim_process_instance_id_process_instance')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expense_claim')),
    sa.UniqueConstraint('number', name=op.f('uq_expense_claim_number'))
    )
    with op.batch_alter_table('expense_claim', schema=None) as batch_op:
        batch_op.create_index('ix_expense_claim_claimant', ['claimant_id', 'created_at'], unique=False)
        batch_op.create_index('ix_expense_claim_sector_status', ['sector_id', 'status'], unique=False)
        batch_op.create_index('ix_expense_claim_department', ['department_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('expense_claim', schema=None) as batch_op:
        batch_op.drop_index('ix_expense_claim_department')
        batch_op.drop_index('ix_expense_claim_sector_status')
        batch_op.drop_index('ix_expense_claim_claimant')
    op.drop_table('expense_claim')
    with op.batch_alter_table('opportunity_closure', schema=None) as batch_op:
        batch_op.drop_index('ix_opportunity_closure_due')
        batch_op.drop_index('ix_opportunity_closure_opportunity')
    op.drop_table('opportunity_closure')
