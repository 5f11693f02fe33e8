"""Alembic migrations (Flask-Migrate); a package so revisions can import migrations.helpers."""
