"""integrity in the schema: enum checks, unique active contact emails, one fallback,
users.contact_id, grant checks, an index on every foreign key

What the forms and services checked alone, the database now refuses too:
- every enum column, outbound_emails.kind and inquiries.language hold one of their values
  (CHECK constraints named by the ck convention, ck_<table>_<column>);
- an active contact's email is unique ignoring case (uq_contacts_active_email, partial: empty
  emails and inactive contacts are left out), and at most one contact is the fallback;
- a grant's amount is positive and it ends on or after its start; a grant has one report per
  due date (uq_grant_reports_grant_id_due_on, which also serves lookups by grant, so
  ix_grant_reports_grant_id goes);
- users.contact_id links a user to the contact they are, filled here from the contact with
  the user's email (ignoring case; the active one first, then the oldest), which is how the
  app matched them until now;
- fifteen foreign keys that deletes and lists follow get an index.

Existing rows that break a new rule stop the upgrade with a message naming them, rather than
being changed silently.

Revision ID: 12a621244337
Revises: eb19e7103c4e
Create Date: 2026-12-03 03:26:29.641397

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '12a621244337'
down_revision = 'eb19e7103c4e'
branch_labels = None
depends_on = None

# The values as of this revision (the models' enums may grow later, with a revision of their own).
ENUM_VALUES = {
    ('organisations', 'kind'): ['backbone', 'grantee', 'community', 'funder', 'other'],
    ('organisations', 'status'): ['active', 'inactive'],
    ('grants', 'status'): ['proposed', 'active', 'closed', 'declined'],
    ('users', 'role'): ['admin', 'manager', 'staff', 'partner'],
    ('inquiries', 'source'): ['web', 'phone', 'email', 'letter', 'in_person'],
    ('inquiries', 'status'): ['new', 'assigned', 'in_progress', 'responded', 'closed', 'spam'],
    ('inquiries', 'language'): ['en', 'es'],
    ('interactions', 'kind'): ['call', 'meeting', 'email', 'site_visit', 'note'],
    ('inquiry_events', 'kind'): [
        'received', 'routed', 'email_queued', 'email_sent', 'email_failed', 'viewed', 'assigned',
        'status_changed', 'note', 'response', 'linked', 'reminder', 'escalated', 'anonymised',
    ],
    ('outbound_emails', 'status'): ['pending', 'sent', 'held', 'dead'],
    ('outbound_emails', 'kind'): [
        'contact_notice', 'reassigned_notice', 'requester_ack', 'sla_reminder', 'sla_escalation',
        'invitation', 'password_reset',
    ],
    ('account_tokens', 'purpose'): ['invite', 'reset'],
    ('account_tokens', 'role'): ['admin', 'manager', 'staff', 'partner'],
}
GRANT_CHECKS = {
    'ck_grants_amount_positive': 'amount > 0',
    'ck_grants_ends_on_or_after_start': 'end_date >= start_date',
}
ACTIVE_WITH_EMAIL = "active AND email <> ''"

# (table, column) -> index name, for the foreign keys that had none.
FOREIGN_KEY_INDEXES = [
    ('audit_events', 'actor_id'),
    ('contact_topics', 'topic_id'),
    ('organisations', 'backup_contact_id'),
    ('inquiries', 'logged_by_id'),
    ('inquiries', 'routing_rule_id'),
    ('inquiry_events', 'actor_id'),
    ('interaction_contacts', 'contact_id'),
    ('organisation_counties', 'county_fips'),
    ('organisation_regions', 'region_id'),
    ('region_counties', 'county_fips'),
    ('routing_rule_counties', 'county_fips'),
    ('routing_rule_regions', 'region_id'),
    ('routing_rule_topics', 'topic_id'),
    ('routing_rules', 'target_contact_id'),
    ('routing_rules', 'target_organisation_id'),
]


def one_of(column, values):
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


def refuse_rows_that_break_the_rules(bind):
    problems = []
    for (table, column), values in ENUM_VALUES.items():
        found = bind.execute(sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE NOT ({one_of(column, values)})")).scalars().all()
        if found:
            problems.append(f"{table}.{column} holds values outside {values}: {found}")
    duplicates = bind.execute(sa.text(
        f"SELECT lower(email), count(*) FROM contacts WHERE {ACTIVE_WITH_EMAIL} GROUP BY lower(email) HAVING count(*) > 1"
    )).all()
    if duplicates:
        problems.append(
            f"{len(duplicates)} emails are used by more than one active contact; deactivate or edit all but one of each"
        )
    fallbacks = bind.execute(sa.text("SELECT id FROM contacts WHERE is_inquiry_fallback")).scalars().all()
    if len(fallbacks) > 1:
        problems.append(f"contacts {fallbacks} are all the fallback; choose one on the routing rules page")
    for name, condition in GRANT_CHECKS.items():
        found = bind.execute(sa.text(f"SELECT id FROM grants WHERE NOT ({condition})")).scalars().all()
        if found:
            problems.append(f"grants {found} break {name} ({condition})")
    found = bind.execute(sa.text(
        "SELECT grant_id FROM grant_reports GROUP BY grant_id, due_on HAVING count(*) > 1"
    )).scalars().all()
    if found:
        problems.append(f"grants {sorted(set(found))} have two reports due on the same day")
    if problems:
        raise RuntimeError("Fix these rows before upgrading:\n- " + "\n- ".join(problems))


def sqlite_foreign_keys_off():
    """Copying a table that others refer to (organisations, grants, users, ...) with SQLite's
    foreign keys on would delete or NULL their rows. migrations/env.py turns them off for a
    run, but eb19e7103c4e turns them back on when it ends, so this revision makes sure; env.py
    turns them on again and checks every key after the run. The pragma is ignored inside a
    transaction, hence the COMMIT of what came before, at the driver (as eb19e7103c4e does)."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    driver_connection = bind.connection.dbapi_connection
    if driver_connection.in_transaction:
        driver_connection.execute('COMMIT')
    driver_connection.execute('PRAGMA foreign_keys=OFF')
    if driver_connection.execute('PRAGMA foreign_keys').fetchone()[0]:
        raise RuntimeError('could not turn SQLite foreign keys off; stopping before any table is copied')


def upgrade():
    bind = op.get_bind()
    refuse_rows_that_break_the_rules(bind)
    sqlite_foreign_keys_off()

    checks = {}
    for (table, column), values in ENUM_VALUES.items():
        checks.setdefault(table, {})[f'ck_{table}_{column}'] = one_of(column, values)
    checks['grants'].update(GRANT_CHECKS)
    for table, named in checks.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, condition in named.items():
                batch_op.create_check_constraint(batch_op.f(name), condition)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(
            'uq_contacts_active_email',
            [sa.text('lower(email)')],
            unique=True,
            postgresql_where=sa.text(ACTIVE_WITH_EMAIL),
            sqlite_where=sa.text(ACTIVE_WITH_EMAIL),
        )
        batch_op.create_index(
            'uq_contacts_inquiry_fallback',
            ['is_inquiry_fallback'],
            unique=True,
            postgresql_where=sa.text('is_inquiry_fallback'),
            sqlite_where=sa.text('is_inquiry_fallback'),
        )

    with op.batch_alter_table('grant_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grant_reports_grant_id'))
        batch_op.create_unique_constraint('uq_grant_reports_grant_id_due_on', ['grant_id', 'due_on'])

    for table, column in FOREIGN_KEY_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{table}_{column}'), [column], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_id', sa.Integer(), nullable=True))
    # The contact with the user's email, ignoring case: the active one first, then the
    # oldest (inquiries.services.contact_with_email's order). Users' emails are stored lower-case
    # and unique, so no two users find the same contact.
    op.execute(
        "UPDATE users SET contact_id = ("
        "SELECT contacts.id FROM contacts "
        "WHERE contacts.email <> '' AND lower(contacts.email) = lower(users.email) "
        "ORDER BY contacts.active DESC, contacts.id LIMIT 1)"
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_contact_id'), ['contact_id'], unique=True)
        batch_op.create_foreign_key(
            batch_op.f('fk_users_contact_id_contacts'), 'contacts', ['contact_id'], ['id'], ondelete='SET NULL'
        )


def downgrade():
    sqlite_foreign_keys_off()
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_contact_id_contacts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_users_contact_id'))
        batch_op.drop_column('contact_id')

    for table, column in reversed(FOREIGN_KEY_INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_{column}'))

    with op.batch_alter_table('grant_reports', schema=None) as batch_op:
        batch_op.drop_constraint('uq_grant_reports_grant_id_due_on', type_='unique')
        batch_op.create_index(batch_op.f('ix_grant_reports_grant_id'), ['grant_id'], unique=False)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('uq_contacts_inquiry_fallback')
        batch_op.drop_index('uq_contacts_active_email')

    checks = {}
    for table, column in ENUM_VALUES:
        checks.setdefault(table, []).append(f'ck_{table}_{column}')
    checks['grants'] += list(GRANT_CHECKS)
    for table, names in checks.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in names:
                batch_op.drop_constraint(batch_op.f(name), type_='check')
