"""execution and implementation orders (issue 4)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 17:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('execution_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('process_instance_id', sa.Integer(), nullable=True),
    sa.Column('shipping_confirmed_by', sa.Integer(), nullable=True),
    sa.Column('shipping_confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('collection_confirmed_by', sa.Integer(), nullable=True),
    sa.Column('collection_confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('implementation_confirmed_by', sa.Integer(), nullable=True),
    sa.Column('implementation_confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['collection_confirmed_by'], ['app_user.id'], name=op.f('fk_execution_order_collection_confirmed_by_app_user')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_execution_order_contract_id_contract')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_execution_order_customer_id_customer')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_execution_order_department_id_department')),
    sa.ForeignKeyConstraint(['implementation_confirmed_by'], ['app_user.id'], name=op.f('fk_execution_order_implementation_confirmed_by_app_user')),
    sa.ForeignKeyConstraint(['owner_id'], ['app_user.id'], name=op.f('fk_execution_order_owner_id_app_user')),
    sa.ForeignKeyConstraint(['process_instance_id'], ['process_instance.id'], name=op.f('fk_execution_order_process_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_execution_order_sector_id_sector')),
    sa.ForeignKeyConstraint(['shipping_confirmed_by'], ['app_user.id'], name=op.f('fk_execution_order_shipping_confirmed_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_execution_order')),
    sa.UniqueConstraint('number', name=op.f('uq_execution_order_number'))
    )
    with op.batch_alter_table('execution_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_execution_order_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index('ix_execution_order_owner', ['owner_id', 'created_at'], unique=False)
        batch_op.create_index('ix_execution_order_sector_status', ['sector_id', 'status'], unique=False)

    op.create_table('implementation_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('execution_order_id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('process_instance_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(), nullable=True),
    sa.Column('accepted_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['accepted_by'], ['app_user.id'], name=op.f('fk_implementation_order_accepted_by_app_user')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_implementation_order_contract_id_contract')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_implementation_order_customer_id_customer')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_implementation_order_department_id_department')),
    sa.ForeignKeyConstraint(['execution_order_id'], ['execution_order.id'], name=op.f('fk_implementation_order_execution_order_id_execution_order')),
    sa.ForeignKeyConstraint(['owner_id'], ['app_user.id'], name=op.f('fk_implementation_order_owner_id_app_user')),
    sa.ForeignKeyConstraint(['process_instance_id'], ['process_instance.id'], name=op.f('fk_implementation_order_process_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_implementation_order_sector_id_sector')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_implementation_order')),
    sa.UniqueConstraint('execution_order_id', name=op.f('uq_implementation_order_execution_order_id')),
    sa.UniqueConstraint('number', name=op.f('uq_implementation_order_number'))
    )
    with op.batch_alter_table('implementation_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_implementation_order_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index('ix_implementation_order_sector_status', ['sector_id', 'status'], unique=False)

    op.create_table('impl_milestone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('percent', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reached_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['implementation_order.id'], name=op.f('fk_impl_milestone_order_id_implementation_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impl_milestone'))
    )
    with op.batch_alter_table('impl_milestone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_impl_milestone_order_id'), ['order_id'], unique=False)

    op.create_table('impl_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('implementer_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('milestone_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['implementer_id'], ['app_user.id'], name=op.f('fk_impl_task_implementer_id_app_user')),
    sa.ForeignKeyConstraint(['milestone_id'], ['impl_milestone.id'], name=op.f('fk_impl_task_milestone_id_impl_milestone')),
    sa.ForeignKeyConstraint(['order_id'], ['implementation_order.id'], name=op.f('fk_impl_task_order_id_implementation_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impl_task'))
    )
    with op.batch_alter_table('impl_task', schema=None) as batch_op:
        batch_op.create_index('ix_impl_task_implementer', ['implementer_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_impl_task_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    for table in ('impl_task', 'impl_milestone', 'implementation_order', 'execution_order'):
        op.drop_table(table)
