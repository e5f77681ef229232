"""approval actions: comments, attachments, copies, delegation (issue 4)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], name=op.f('fk_task_comment_author_id_app_user')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_task_comment_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], name=op.f('fk_task_comment_task_id_human_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_comment'))
    )
    with op.batch_alter_table('task_comment', schema=None) as batch_op:
        batch_op.create_index('ix_task_comment_instance', ['instance_id', 'id'], unique=False)

    op.create_table('task_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('sector_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_task_attachment_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_task_attachment_sector_id_sector')),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], name=op.f('fk_task_attachment_task_id_human_task')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['app_user.id'], name=op.f('fk_task_attachment_uploaded_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_attachment'))
    )
    with op.batch_alter_table('task_attachment', schema=None) as batch_op:
        batch_op.create_index('ix_task_attachment_instance', ['instance_id', 'id'], unique=False)

    op.create_table('instance_copy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('copied_by', sa.Integer(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=True),
    sa.Column('copied_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['copied_by'], ['app_user.id'], name=op.f('fk_instance_copy_copied_by_app_user')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                            name=op.f('fk_instance_copy_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_instance_copy_sector_id_sector')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_instance_copy_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instance_copy')),
    sa.UniqueConstraint('instance_id', 'user_id', name=op.f('uq_instance_copy_instance_id_user_id'))
    )
    with op.batch_alter_table('instance_copy', schema=None) as batch_op:
        batch_op.create_index('ix_instance_copy_user', ['user_id', 'copied_at'], unique=False)

    op.create_table('delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delegator_id', sa.Integer(), nullable=False),
    sa.Column('delegate_id', sa.Integer(), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_delegation_created_by_app_user')),
    sa.ForeignKeyConstraint(['delegate_id'], ['app_user.id'], name=op.f('fk_delegation_delegate_id_app_user')),
    sa.ForeignKeyConstraint(['delegator_id'], ['app_user.id'], name=op.f('fk_delegation_delegator_id_app_user')),
    sa.ForeignKeyConstraint(['ended_by'], ['app_user.id'], name=op.f('fk_delegation_ended_by_app_user')),
    sa.ForeignKeyConstraint(['sector_id'], ['sector.id'], name=op.f('fk_delegation_sector_id_sector')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegation'))
    )
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.create_index('ix_delegation_delegate', ['delegate_id', 'active', 'starts_on'], unique=False)
        batch_op.create_index('ix_delegation_delegator', ['delegator_id', 'active', 'starts_on'], unique=False)

    with op.batch_alter_table('instance_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acting_for_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_instance_event_acting_for_id_app_user'), 'app_user',
                                    ['acting_for_id'], ['id'])
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urged_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_column('urged_at')
    with op.batch_alter_table('instance_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_instance_event_acting_for_id_app_user'), type_='foreignkey')
        batch_op.drop_column('acting_for_id')
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.drop_index('ix_delegation_delegator')
        batch_op.drop_index('ix_delegation_delegate')
    op.drop_table('delegation')
    with op.batch_alter_table('instance_copy', schema=None) as batch_op:
        batch_op.drop_index('ix_instance_copy_user')
    op.drop_table('instance_copy')
    with op.batch_alter_table('task_attachment', schema=None) as batch_op:
        batch_op.drop_index('ix_task_attachment_instance')
    op.drop_table('task_attachment')
    with op.batch_alter_table('task_comment', schema=None) as batch_op:
        batch_op.drop_index('ix_task_comment_instance')
    op.drop_table('task_comment')
