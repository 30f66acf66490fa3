"""Persistence: SQLAlchemy tables, Alembic migrations, and blob files."""
