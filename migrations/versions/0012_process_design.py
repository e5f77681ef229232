"""process design (issue 5): drafts, sector-scoped versions, DMN definitions

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 21:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process_definition', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), nullable=False, server_default='bpmn'))
        batch_op.add_column(sa.Column('sector_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('source_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('comment', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('dmn_refs', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_process_definition_sector_id_sector'), 'sector',
                                    ['sector_id'], ['id'])
        batch_op.create_index('ix_process_definition_current', ['kind', 'key', 'sector_id', 'version'],
                              unique=False)
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remind_at', sa.DateTime(), nullable=True))
    op.create_table('process_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=True),
    sa.Column('base_definition_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('executable', sa.Boolean(), nullable=False),
    sa.Column('problems', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('published_definition_id', sa.Integer(), nullable=True),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['base_definition_id'], ['process_definition.id'],
                            name=op.f('fk_process_draft_base_definition_id_process_definition')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_process_draft_created_by_app_user')),
    sa.ForeignKeyConstraint(['published_definition_id'], ['process_definition.id'],
                            name=op.f('fk_process_draft_published_definition_id_process_definition')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_process_draft_sector_id_sector')),
    sa.ForeignKeyConstraint(['updated_by'], ['app_user.id'], name=op.f('fk_process_draft_updated_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_draft'))
    )
    with op.batch_alter_table('process_draft', schema=None) as batch_op:
        batch_op.create_index('ix_process_draft_scope', ['sector_id', 'kind', 'updated_at'], unique=False)


def downgrade() -> None:
    op.drop_table('process_draft')
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_column('remind_at')
    with op.batch_alter_table('process_definition', schema=None) as batch_op:
        batch_op.drop_index('ix_process_definition_current')
        batch_op.drop_constraint(batch_op.f('fk_process_definition_sector_id_sector'), type_='foreignkey')
        for column in ('dmn_refs', 'comment', 'source_version', 'sector_id', 'kind'):
            batch_op.drop_column(column)
