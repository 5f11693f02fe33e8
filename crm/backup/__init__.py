"""Backups that restore: `flask --app wsgi crm backup | restore | verify-backup`.

A backup is one file. On SQLite it is a copy of the database made with SQLite's online backup
API; on PostgreSQL, a pg_dump archive in custom format. Either kind is restored only into an
empty database of the same kind, and carries its alembic_version row, so `flask db upgrade`
and `flask db check` work on the restored database.

- files.py: what a backup file is, and writing one so that it appears whole or not at all;
- sqlite.py, postgresql.py: the same four operations for each database;
- cli.py: the commands, registered in crm/cli.py. Nothing here is reachable from the web app.
"""
