"""search indexes for the customer list at scale (PostgreSQL only)

The list's search (models.customers.search_clause) is `name_normalized LIKE '%q%'`, `pinyin_initials
LIKE 'q%'` and `phone LIKE '%digits%'`, OR-ed, inside the access filter, ORDER BY created_at DESC
LIMIT 50. With 1M customers a sequential scan of the sector is far above the 50 ms aim:

- pg_trgm GIN indexes on the three searched columns serve `LIKE '%…%'` and `LIKE '…%'` (patterns of
  3+ characters; the database collation is not C, so a plain btree cannot serve LIKE prefixes);
- (sector_id, created_at, id) serves the default order of the list without sorting the sector.

SQLite (development) keeps the indexes of 0002; it has no trigram indexes and needs none at that size.
If pg_trgm cannot be created (no privilege), only the btree index is added.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 17:00:00
"""
from alembic import op
from sqlalchemy import text

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

TRGM_INDEXES = {
    "ix_customer_name_trgm": "name_normalized",
    "ix_customer_pinyin_trgm": "pinyin_initials",
    "ix_customer_phone_trgm": "phone",
}


def _has_trgm(bind) -> bool:
    if bind.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar():
        return True
    if not bind.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
        return False
    bind.execute(text("SAVEPOINT trgm"))
    try:
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except Exception:  # noqa: BLE001 - no privilege: go on without trigram indexes
        bind.execute(text("ROLLBACK TO SAVEPOINT trgm"))
        return False
    bind.execute(text("RELEASE SAVEPOINT trgm"))
    return True


# The distinct character pairs of a text: '华信科技' → {华信, 信科, 科技}. A GIN index on them serves the
# two-character name fragments that trigram indexes cannot (models.customers.search_clause).
BIGRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}'::text[])
  FROM generate_series(1, char_length(t) - 1) AS i
$$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(BIGRAMS_FUNCTION)
    op.execute("CREATE INDEX IF NOT EXISTS ix_customer_name_bigrams ON customer USING gin (crm_bigrams(name_normalized))")
    op.execute("CREATE INDEX IF NOT EXISTS ix_customer_sector_created ON customer (sector_id, created_at, id)")
    # a finer histogram: the planner then sees that a 3+ character name fragment is rare and takes the
    # trigram index instead of walking the created_at order of the whole sector
    op.execute("ALTER TABLE customer ALTER COLUMN name_normalized SET STATISTICS 1000")
    if _has_trgm(bind):
        for name, column in TRGM_INDEXES.items():
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON customer USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in TRGM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP INDEX IF EXISTS ix_customer_name_bigrams")
    op.execute("DROP FUNCTION IF EXISTS crm_bigrams(text)")
    op.execute("DROP INDEX IF EXISTS ix_customer_sector_created")
    op.execute("ALTER TABLE customer ALTER COLUMN name_normalized SET STATISTICS -1")
