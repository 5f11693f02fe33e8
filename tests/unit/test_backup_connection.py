"""pg_dump and pg_restore get the connection as libpq parameters built from DATABASE_URL, and the
password only through PGPASSWORD: never on their command line, which any user of the server
can read."""

import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from crm.backup.files import BackupError
from crm.backup.postgresql import connection_parameters

CASES = [
    (
        "postgresql+psycopg://backbone:s3cret-Pa55@db.internal:5432/backbone",
        {"host": "db.internal", "port": "5432", "dbname": "backbone", "user": "backbone"},
        {"PGPASSWORD": "s3cret-Pa55"},
    ),
    (
        "postgresql+psycopg://backbone:p%40ss%20w%27rd%3D@db.internal/backbone",
        {"host": "db.internal", "dbname": "backbone", "user": "backbone"},
        {"PGPASSWORD": "p@ss w'rd="},
    ),
    (
        "postgresql://postgres@127.0.0.1:5432/test_backup",
        {"host": "127.0.0.1", "port": "5432", "dbname": "test_backup", "user": "postgres"},
        {},
    ),
    (
        "postgresql+psycopg://backbone@/backbone?host=/var/run/postgresql",
        {"host": "/var/run/postgresql", "dbname": "backbone", "user": "backbone"},
        {},
    ),
    (
        "postgresql+psycopg://backbone@db.internal/back%20bone%27s?sslmode=verify-full&application_name=backup",
        {
            "host": "db.internal",
            "dbname": "back bone's",
            "user": "backbone",
            "sslmode": "verify-full",
            "application_name": "backup",
        },
        {},
    ),
    (
        "postgresql+psycopg://backbone@db.internal/backbone?password=in-the-query",
        {"host": "db.internal", "dbname": "backbone", "user": "backbone"},
        {"PGPASSWORD": "in-the-query"},
    ),
]


@pytest.mark.parametrize(("url", "parameters", "environment"), CASES)
def test_connection_parameters(url, parameters, environment):
    conninfo, extra_environment = connection_parameters(make_url(url))

    assert conninfo_to_dict(conninfo) == parameters
    assert extra_environment == environment
    if environment:
        assert environment["PGPASSWORD"] not in conninfo


def test_a_parameter_libpq_does_not_know_is_refused_clearly():
    with pytest.raises(BackupError, match="do not accept"):
        connection_parameters(make_url("postgresql+psycopg://backbone@db/backbone?no_such_option=1"))
