"""Backbone CRM: the application factory."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from config import Config, config_from_environment
from crm import logs, request_body, request_log
from crm.extensions import babel, csrf, db, limiter, login_manager
from crm.secret_key import secret_key_weakness


class BackboneFlask(Flask):
    def log_exception(self, exc_info) -> None:
        """Flask's "Exception on ..." record of an unhandled error, told without the exception
        messages, which can quote what a family wrote (crm.logs), and without a calendar
        feed's token, which is its path (crm.request_log)."""
        error = exc_info[1]
        if error is None:
            super().log_exception(exc_info)
            return
        path = request_log.without_calendar_tokens(request.path)
        logs.log_failure(self.logger, "Exception on %s [%s]", path, request.method, error=error)


def create_app(config_class: type[Config] | None = None, *, commands: bool = True, **overrides) -> Flask:
    """The app. `commands=False` leaves out the `flask` commands (`flask db`, `flask crm`) and
    the libraries only they use (Alembic, Mako, Pygments...): wsgi.py serves gunicorn so."""
    app = BackboneFlask(__name__, template_folder="../templates", instance_relative_config=False)
    app.config.from_object(config_class or config_from_environment())
    app.config.update(overrides)
    # Whatever engine options a deployment or a test sets, SQL errors and echo carry no values
    # unless it asks for them by name.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"hide_parameters": True, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    _size_connection_pool(app)
    logs.hide_result_rows()
    _refuse_weak_secret(app)
    _refuse_bad_reply_to(app)
    if app.config["TRUSTED_PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        proxies = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    request_body.init_app(app)
    request_log.install()

    register_extensions(app)
    register_blueprints(app)
    register_handlers(app)
    if commands:
        register_commands(app)
    return app


def _size_connection_pool(app: Flask) -> None:
    """On PostgreSQL, each process keeps DATABASE_POOL_SIZE connections and opens at most
    DATABASE_MAX_OVERFLOW more, unless the engine options name their own. SQLite's pools
    (one file, or one connection in memory) take no such options."""
    from sqlalchemy.engine import make_url

    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() != "postgresql":
        return
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "pool_size": app.config["DATABASE_POOL_SIZE"],
        "max_overflow": app.config["DATABASE_MAX_OVERFLOW"],
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }


def _refuse_weak_secret(app: Flask) -> None:
    if app.config["ENV_NAME"] in {"development", "testing"}:
        return
    weakness = secret_key_weakness(app.config.get("SECRET_KEY") or "")
    if weakness is not None:
        raise RuntimeError(
            f"SECRET_KEY is not fit for production: {weakness}. Set it to a random value of at "
            "least 32 characters (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
            "or set CRM_ENV=development for local work."
        )


def _refuse_bad_reply_to(app: Flask) -> None:
    from crm.mail.outbox import reply_to_problem

    problem = reply_to_problem(app.config.get("MAIL_REPLY_TO") or "")
    if problem:
        raise RuntimeError(
            f"MAIL_REPLY_TO {problem}: set it to one address, like hello@example.org or "
            "'Foundation <hello@example.org>', or leave it empty."
        )


def register_extensions(app: Flask) -> None:
    import crm.models  # noqa: F401  (every model must be known to metadata and migrations)
    from crm import outage, reference_cache

    db.init_app(app)
    reference_cache.install(app)
    # Teardowns run last-registered first: this closes the session before Flask-SQLAlchemy's
    # own teardown would, without failing the request over a connection killed meanwhile.
    app.teardown_appcontext(outage.end_session)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    from crm.public.i18n import select_locale

    babel.init_app(app, locale_selector=select_locale)
    with app.app_context():
        _tune_sqlite(db.engine)
        outage.count_failed_connections_as_lost(db.engine)

    from crm.auth.sessions import load_signed_in_user

    login_manager.user_loader(load_signed_in_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


# How long a transaction waits for another's write lock before SQLite gives up with
# "database is locked". Writers here take milliseconds, so waiting is cheap and failing is not.
SQLITE_BUSY_TIMEOUT_MS = 15_000


def _tune_sqlite(engine: Engine) -> None:
    """SQLite serves local work and demos, where the web server's threads and the job runner
    write to one file at the same time (SQLAlchemy's documented pysqlite recipe, plus locking).

    - Foreign keys are enforced, as on PostgreSQL.
    - WAL journal: readers never wait for the writer, nor the writer for readers.
    - A busy timeout: a writer that finds the file locked waits its turn.
    - SQLAlchemy, not the sqlite3 module, starts transactions, so savepoints behave as on
      PostgreSQL; and a transaction that may write starts with BEGIN IMMEDIATE. A plain
      (deferred) BEGIN reads first and asks for the write lock later, and SQLite refuses that
      upgrade at once, whatever the timeout, when another writer got in between: the
      "database is locked" errors of simultaneous form posts. Taken at BEGIN, the lock is
      simply waited for. Pages that only read start a deferred transaction and run side by side.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")  # an in-memory database stays "memory"
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if transaction_may_write() else "BEGIN")


def transaction_may_write() -> bool:
    """Whether a transaction starting now may write: outside a request (the job runner, CLI
    commands) it may; in a request, unless it is a GET or HEAD of a view that only reads."""
    if not has_request_context():
        return True
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "writes_on_get", False))


def register_blueprints(app: Flask) -> None:
    from crm.account.routes import bp as account_bp
    from crm.admin_outbox.routes import bp as outbox_bp
    from crm.api.routes import bp as api_bp
    from crm.audit_trail.routes import bp as audit_trail_bp
    from crm.auth.routes import bp as auth_bp
    from crm.calendar.routes import bp as calendar_bp
    from crm.contacts.routes import bp as contacts_bp
    from crm.dashboard.routes import bp as dashboard_bp
    from crm.family.routes import bp as family_bp
    from crm.grants.routes import bp as grants_bp
    from crm.health.routes import bp as health_bp
    from crm.holidays.routes import bp as holidays_bp
    from crm.imports.routes import bp as imports_bp
    from crm.inquiries.routes import bp as inquiries_bp
    from crm.interactions.routes import bp as interactions_bp
    from crm.invitations.routes import bp as invitations_bp
    from crm.merging.routes import bp as merging_bp
    from crm.organisations.routes import bp as organisations_bp
    from crm.password_reset.routes import bp as password_reset_bp
    from crm.public.routes import bp as public_bp
    from crm.reports.routes import bp as reports_bp
    from crm.routing.routes import bp as routing_bp
    from crm.users.routes import bp as users_bp

    for blueprint in (
        health_bp,
        public_bp,
        family_bp,
        auth_bp,
        password_reset_bp,
        invitations_bp,
        account_bp,
        calendar_bp,
        dashboard_bp,
        organisations_bp,
        contacts_bp,
        grants_bp,
        interactions_bp,
        imports_bp,
        merging_bp,
        users_bp,
        routing_bp,
        holidays_bp,
        outbox_bp,
        audit_trail_bp,
        inquiries_bp,
        reports_bp,
        api_bp,
    ):
        app.register_blueprint(blueprint)


def register_handlers(app: Flask) -> None:
    from crm import errors, security
    from crm.auth import gate
    from crm.templating import init_app as init_templating

    errors.init_app(app)
    security.init_app(app)
    gate.init_app(app)
    init_templating(app)


def register_commands(app: Flask) -> None:
    """`flask crm ...`, and `flask db ...` (Flask-Migrate, bound here rather than created in
    crm.extensions: it brings Alembic, which only commands and tests need)."""
    from flask_migrate import Migrate

    from crm.cli import crm_cli

    Migrate(app, db, directory=str(app.root_path + "/../migrations"), render_as_batch=True)
    app.cli.add_command(crm_cli)
