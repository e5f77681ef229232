"""reports (issue 6): stage moves, login events, monthly snapshots, ranking, furthest stage reached

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 00:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'))


def upgrade() -> None:
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('furthest_position', sa.Integer(), nullable=True))
    # what every existing opportunity reached at least: its current stage (lost ones: the first stage)
    op.execute("""
        UPDATE opportunity SET furthest_position = (
            SELECT CASE WHEN s.outcome = 'lost'
                        THEN (SELECT min(f.position) FROM opportunity_stage f
                              WHERE f.sector_id = s.sector_id AND f.outcome IS NULL)
                        ELSE s.position END
            FROM opportunity_stage s
            WHERE s.sector_id = opportunity.sector_id AND s.code = opportunity.stage_code)
    """)
    op.create_table(
        'opportunity_stage_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('opportunity_id', sa.Integer(), nullable=False),
        sa.Column('sector_id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('from_code', sa.String(length=40), nullable=True),
        sa.Column('to_code', sa.String(length=40), nullable=False),
        sa.Column('forward', sa.Boolean(), nullable=False),
        sa.Column('changed_by', sa.Integer(), nullable=True),
        sa.Column('changed_at', sa.DateTime(), nullable=False),
        _fk('opportunity_stage_change', 'opportunity_id', 'opportunity'),
        _fk('opportunity_stage_change', 'sector_id', 'sector'),
        sa.ForeignKeyConstraint(['owner_id'], ['app_user.id'], name=op.f('fk_opportunity_stage_change_owner_id_app_user')),
        sa.ForeignKeyConstraint(['changed_by'], ['app_user.id'],
                                name=op.f('fk_opportunity_stage_change_changed_by_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_stage_change')),
    )
    op.create_index('ix_stage_change_sector_at', 'opportunity_stage_change', ['sector_id', 'changed_at'])
    op.create_index('ix_stage_change_owner_at', 'opportunity_stage_change', ['owner_id', 'changed_at'])
    op.create_index(op.f('ix_opportunity_stage_change_opportunity_id'), 'opportunity_stage_change',
                    ['opportunity_id'])
    op.create_table(
        'login_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('sector_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_login_event_user_id_app_user')),
        _fk('login_event', 'sector_id', 'sector'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_event')),
    )
    op.create_index('ix_login_event_sector_at', 'login_event', ['sector_id', 'at'])
    op.create_index('ix_login_event_user_at', 'login_event', ['user_id', 'at'])
    money = sa.Numeric(precision=18, scale=2)
    counts = ['new_customers', 'new_opportunities', 'phone_visits', 'activities', 'opportunity_activities',
              'stage_advances']
    op.create_table(
        'report_month_stat',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('sector_id', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('is_agent', sa.Boolean(), nullable=False),
        *[sa.Column(c, sa.Integer(), nullable=False) for c in counts],
        *[sa.Column(c, money, nullable=False) for c in ('opportunity_value', 'contract_amount', 'collected')],
        sa.Column('logins', sa.Integer(), nullable=False),
        sa.Column('records_entered', sa.Integer(), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
        _fk('report_month_stat', 'sector_id', 'sector'),
        _fk('report_month_stat', 'department_id', 'department'),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_report_month_stat_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_month_stat')),
        sa.UniqueConstraint('month', 'user_id', name=op.f('uq_report_month_stat_month_user_id')),
    )
    op.create_index('ix_report_month_stat_scope', 'report_month_stat', ['month', 'sector_id', 'department_id'])
    op.create_table(
        'rep_ranking',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('sector_id', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('rank_group', sa.String(length=10), nullable=False),
        sa.Column('qualified', sa.Boolean(), nullable=False),
        sa.Column('score', sa.Numeric(precision=9, scale=2), nullable=True),
        sa.Column('rank', sa.Integer(), nullable=True),
        sa.Column('mark', sa.String(length=10), nullable=True),
        sa.Column('value_rank', sa.Integer(), nullable=True),
        sa.Column('presales_priority', sa.Boolean(), nullable=False),
        sa.Column('routing_priority', sa.Boolean(), nullable=False),
        sa.Column('lost_lead_rights', sa.Boolean(), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
        _fk('rep_ranking', 'sector_id', 'sector'),
        _fk('rep_ranking', 'department_id', 'department'),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_rep_ranking_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rep_ranking')),
        sa.UniqueConstraint('month', 'sector_id', 'user_id', name=op.f('uq_rep_ranking_month_sector_id_user_id')),
    )
    op.create_index('ix_rep_ranking_user_month', 'rep_ranking', ['user_id', 'month'])


def downgrade() -> None:
    op.drop_table('rep_ranking')
    op.drop_table('report_month_stat')
    op.drop_table('login_event')
    op.drop_table('opportunity_stage_change')
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_column('furthest_position')
