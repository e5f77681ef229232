"""report indexes (issue 6): a month of records, read index-only for every scope level

The live month of the reports (models/reports/monthly.py `_live_figures`, the dashboard's sector figures) counts
and sums a month of customers, opportunities, activities and stage moves per person, restricted by the scope
(one rep, a department's reps, a sector, the group). Measured on PostgreSQL with `bench/reports.py` (1M
customers, 1M opportunities, 5M activities, 2.7M stage moves), the existing (sector_id, created_at) and
(owner_id, occurred_at) indexes serve a sector or a rep but not the group, and every one of them has to visit
the table for the owner, kind or amount: a month of activities (~270k rows scattered over 5M) cost a parallel
sequential scan of 0.3–0.7 s per figure, and `user_month_stats` took 4.2 s live.

One index per table, on the month's column with the scope and figure columns INCLUDEd, turns each figure into
an index-only range scan of the month for every scope level (`user_month_stats` live: 4.2 s → 0.5–0.7 s on the
busy 2-core machine):

- activity (occurred_at) INCLUDE (sector_id, owner_id, kind, opportunity_id): activities, phone visits,
  activities on opportunities, the sectors' activities;
- activity (created_at) INCLUDE (sector_id, owner_id): activities entered in the month (records_entered);
- customer (created_at) INCLUDE (sector_id, created_by): new customers, records entered, sectors;
- opportunity (created_at) INCLUDE (sector_id, owner_id, created_by, amount): new opportunities and their value;
- opportunity_stage_change (changed_at) INCLUDE (sector_id, owner_id, forward): stage advances.

Two existing indexes led by the owner get the columns of the current-state reports INCLUDEd, so a rep's (or a
department's) figures are index-only too, at no extra write cost (their key columns, which change with every
activity, are unchanged): customer (owner_id, last_contact_at) + (sector_id, grade) for the grades report, and
opportunity (owner_id, last_activity_at) + (sector_id, status, stage_code, furthest_position, expected_sign_date,
amount) for the funnel, signing months, forecast and open opportunities per person (a rep's funnel 558 → 198 ms,
grades 710 → 123 ms).

SQLite (development) gets the new indexes without the INCLUDE columns and keeps the two existing ones.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 01:10:00
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

INDEXES = {
    "ix_activity_occurred_report": ("activity", "occurred_at", ["sector_id", "owner_id", "kind", "opportunity_id"]),
    "ix_activity_created_report": ("activity", "created_at", ["sector_id", "owner_id"]),
    "ix_customer_created_report": ("customer", "created_at", ["sector_id", "created_by"]),
    "ix_opportunity_created_report": ("opportunity", "created_at", ["sector_id", "owner_id", "created_by", "amount"]),
    "ix_stage_change_report": ("opportunity_stage_change", "changed_at", ["sector_id", "owner_id", "forward"]),
}

WIDENED = {
    "ix_customer_pool_sweep": ("customer", ["owner_id", "last_contact_at"], ["sector_id", "grade"]),
    "ix_opportunity_owner_activity": ("opportunity", ["owner_id", "last_activity_at"],
                                      ["sector_id", "status", "stage_code", "furthest_position",
                                       "expected_sign_date", "amount"]),
}


def _rebuild(include: bool) -> None:
    for name, (table, columns, extra) in WIDENED.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, postgresql_include=extra if include else [])


def upgrade() -> None:
    for name, (table, column, include) in INDEXES.items():
        op.create_index(name, table, [column], postgresql_include=include, if_not_exists=True)
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(include=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(include=False)
    for name, (table, _column, _include) in INDEXES.items():
        op.drop_index(name, table_name=table, if_exists=True)
