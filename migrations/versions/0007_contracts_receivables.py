"""contract approval and receivables: invoices, collections (issue 4)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 17:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_contract_signed_by_app_user'), 'app_user', ['signed_by'], ['id'])

    op.create_table('invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_invoice_contract_id_contract')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_invoice_created_by_app_user')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_invoice_department_id_department')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_invoice_sector_id_sector')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice')),
    sa.UniqueConstraint('sector_id', 'number', name=op.f('uq_invoice_sector_id_number'))
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index('ix_invoice_department_due', ['sector_id', 'department_id', 'due_on'], unique=False)

    op.create_table('collection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('sector_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_collection_contract_id_contract')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_collection_created_by_app_user')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_collection_department_id_department')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_collection_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_collection_sector_id_sector')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection'))
    )
    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index('ix_collection_department_received', ['sector_id', 'department_id', 'received_on'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_collection_invoice_id'), ['invoice_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_invoice_id'))
        batch_op.drop_index('ix_collection_department_received')
        batch_op.drop_index(batch_op.f('ix_collection_contract_id'))
    op.drop_table('collection')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_department_due')
        batch_op.drop_index(batch_op.f('ix_invoice_contract_id'))
    op.drop_table('invoice')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contract_signed_by_app_user'), type_='foreignkey')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('signed_by')
