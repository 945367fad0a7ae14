"""Ratings on any MovieLens release's scale: half stars 0.5 to 5 as well as integers 1 to 5.

``ratings.rating`` becomes a float and its range check ``0.5 <= rating <= 5`` (the widest
scale of the registry's releases); which values a release allows (ML-100K: integers, the
later releases: half stars) is checked by the API against the served release's
:class:`convrec.data.registry.RatingScale`. Existing integer ratings keep their values.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot alter a column or a CHECK in place, so it copies the table
    with op.batch_alter_table("ratings") as batch:
        batch.drop_constraint("ck_ratings_range", type_="check")
        batch.alter_column("rating", existing_type=sa.Integer(), type_=sa.Float(),
                           existing_nullable=False)
        batch.create_check_constraint("ck_ratings_range", "rating >= 0.5 AND rating <= 5")


def downgrade() -> None:
    # half stars have no integer home: they are rounded up (3.5 -> 4, 0.5 -> 1)
    ratings = sa.table("ratings", sa.column("rating", sa.Float))
    as_integer = sa.cast(ratings.c.rating, sa.Integer)
    if op.get_bind().dialect.name == "sqlite":  # CAST truncates there; PostgreSQL uses ceil
        op.execute(ratings.update().where(ratings.c.rating > as_integer)
                   .values(rating=as_integer + 1))
    with op.batch_alter_table("ratings") as batch:
        batch.drop_constraint("ck_ratings_range", type_="check")
        batch.alter_column("rating", existing_type=sa.Float(), type_=sa.Integer(),
                           existing_nullable=False, postgresql_using="ceil(rating)::integer")
        batch.create_check_constraint("ck_ratings_range", "rating >= 1 AND rating <= 5")
