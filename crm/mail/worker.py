"""Deliver the outbox: claim what is due, send it outside any transaction, record the outcome.

Guarantees:
- Nothing is lost: a message leaves PENDING only as SENT, or as DEAD after MAIL_MAX_ATTEMPTS
  failures (or one permanent rejection), and an admin can re-send a DEAD one.
- No message is sent by two workers: a worker claims a batch by setting locked_until
  (row locks with SKIP LOCKED on PostgreSQL, and a conditional UPDATE everywhere, so a row
  another worker claimed first is not claimed again) and commits the claim before sending.
  It stops sending once half the lease has passed and hands the rest back, so a claim never
  runs out while its message is still being sent.
- The order is claim (committed), send, acknowledge (committed), one message at a time: a
  message whose send failed, or that was never tried because the SMTP connection broke, is
  recorded as failed and tried again after its backoff; one recorded SENT is never claimed
  again.
- The one window for a duplicate is between the SMTP server accepting a message and the
  commit that records it as SENT: a runner killed there, or a connection that drops after
  the server took the message but before its "250" reached us. The claim (or the retry)
  then sends it again, with the same Message-ID so receivers can drop the repeat. The window
  is one message wide: each acknowledgement is committed straight after its own send
  (retried for a second or so if the database is busy), never at the end of the batch. On
  PostgreSQL that commit does not wait for the disk (synchronous_commit off for the
  acknowledgements; claims still wait): a killed runner loses nothing it committed, and only
  a crash of the database server itself within a fraction of a second of the commit could
  forget an acknowledgement, which again means one repeat with the same Message-ID.
- A drain (`send_all_due`, `drain_outbox`) keeps one SMTP connection and one database
  connection across all its batches; a dropped connection is opened again for the next
  message (the database's, for the acknowledgement's retry). On PostgreSQL an
  acknowledgement is one statement in autocommit: the row marked SENT and, for an email about
  an inquiry, the timeline's line, in one statement.
- An invitation or password-reset email keeps its link's token in the outbox row only while
  it may still be sent: the UPDATE that marks it SENT (or DEAD) writes the token as "(hidden)"
  (crm.mail.sign_in_links), from the snapshot, so the acknowledgement stays one statement.
- A follow-up to a family who opted out after it was queued (crm.mail.opt_out) is not sent:
  once claimed it is marked DEAD with the reason, the opt-out list read once per batch.
- A drain runs MAIL_SENDERS such senders side by side in threads (PostgreSQL only, and no more
  than the database pool has room for), each with its own connections and claims, exactly as
  separate runners would: the drain waits on round trips, and their waits overlap.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from flask import current_app
from sqlalchemy import ColumnElement, Engine, and_, insert, literal, or_, select, text, update
from sqlalchemy.engine import Connection as DatabaseConnection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from crm import logs
from crm.database import utcnow
from crm.extensions import db
from crm.mail.opt_out import NOT_SENT_OPTED_OUT, OPTED_OUT_KINDS, email_hash, opted_out_hashes
from crm.mail.outbox import email_line
from crm.mail.sign_in_links import hidden_body_values, hide_token
from crm.mail.smtp import Connection, DeliveryError, Outgoing, SMTPTransport, Transport, describe_error
from crm.models import EmailStatus, InquiryEvent, InquiryEventKind, OutboundEmail

logger = logging.getLogger(__name__)
Result = TypeVar("Result")

BATCH_SIZE = 100
MAX_PER_RUN = 1000
# Longer than a batch can take: every SMTP step is bounded by MAIL_TIMEOUT (10 s by default).
LEASE = timedelta(minutes=10)
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_SENDERS = 4
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
HELD_MAIL_PAGE = "/admin/outbox/"
OUTBOX = OutboundEmail.__table__
EVENTS = InquiryEvent.__table__
RECORD_ATTEMPTS = 6
RECORD_RETRY_PAUSE = 0.05  # seconds, doubling: about 1.5 s in all
# Different recipients refused in a row with the same permanent reply before the refusal is
# taken as a fault of ours (or the relay's), not of the addresses: see _RefusalStreak.
REFUSAL_STREAK = 3


class UniformSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def backoff_ceiling(attempts: int) -> timedelta:
    """The longest wait after the given number of failed attempts: 30 s, 60 s, 120 s, ... 1 h."""
    exponent = max(attempts, 1) - 1
    if exponent >= 32:  # far past the cap; keeps the arithmetic small
        return BACKOFF_CAP
    return min(BACKOFF_BASE * 2**exponent, BACKOFF_CAP)


def backoff_delay(attempts: int, rng: UniformSource = random) -> timedelta:
    """Full jitter: anywhere between no wait and the ceiling, so workers that failed together
    do not all retry together."""
    ceiling = backoff_ceiling(attempts).total_seconds()
    return timedelta(seconds=rng.uniform(0, ceiling))


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0  # will be retried
    dead: int = 0
    held: int = 0
    released: int = 0  # claimed but handed back unsent (the lease was running out)
    # The server could not be reached (or logged in to, or refused to relay for us): the run
    # stopped there.
    connection_failed: bool = field(default=False, compare=False)

    def __add__(self, other: SendReport) -> SendReport:
        return SendReport(
            sent=self.sent + other.sent,
            failed=self.failed + other.failed,
            dead=self.dead + other.dead,
            held=self.held + other.held,
            released=self.released + other.released,
            connection_failed=self.connection_failed or other.connection_failed,
        )

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.dead + self.held + self.released

    def summary(self) -> str:
        text = f"Outbox: {self.sent} sent, {self.failed} failed (will retry), {self.dead} dead, {self.held} held"
        if self.released:
            text += f", {self.released} handed back for the next run"
        if self.held:
            text += f" (MAIL_SERVER is not set: nothing was sent; read held mail at {HELD_MAIL_PAGE})"
        return text + "."


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboundEmail.status == EmailStatus.PENDING,
        OutboundEmail.next_attempt_at <= now,
        or_(OutboundEmail.locked_until.is_(None), OutboundEmail.locked_until < now),
    )


def _snapshot(email: OutboundEmail) -> Outgoing:
    return Outgoing(
        id=email.id,
        message_id=email.message_id,
        kind=email.kind,
        to_address=email.to_address,
        subject=email.subject,
        body_text=email.body_text,
        language=email.language,
        created_at=email.created_at,
        inquiry_id=email.inquiry_id,
        reply_to=email.reply_to,
    )


def claim_due(
    now: datetime,
    limit: int,
    lease: timedelta = LEASE,
    exclude: Collection[int] = (),
    session: Session | None = None,
) -> list[Outgoing]:
    """Claim up to `limit` due messages until now + lease, commit the claim, and return
    what is needed to send them (on `session`, by default the app's)."""
    session = session or db.session
    query = (
        select(OutboundEmail)
        .where(_due(now))
        .order_by(OutboundEmail.next_attempt_at, OutboundEmail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)  # snapshot what is stored, not a stale copy
    )
    if exclude:
        query = query.where(OutboundEmail.id.not_in(list(exclude)))
    if session.get_bind().dialect.name == "postgresql":
        # The claim waits for the disk even where the drain's acknowledgements do not.
        session.execute(text("SET LOCAL synchronous_commit TO ON"))
    candidates = list(session.scalars(query))
    if not candidates:
        session.commit()
        return []
    # The due condition again: where rows are not locked (SQLite), a row another worker has
    # claimed since our SELECT no longer matches, and RETURNING tells us which rows are ours.
    claimed = set(
        session.scalars(
            update(OutboundEmail)
            .where(OutboundEmail.id.in_([email.id for email in candidates]), _due(now))
            .values(locked_until=now + lease)
            .returning(OutboundEmail.id)
            .execution_options(synchronize_session=False)
        )
    )
    batch = [_snapshot(email) for email in candidates if email.id in claimed]
    session.commit()
    return batch


def hold_due(now: datetime) -> int:
    """Development: mark due messages HELD instead of sending them."""
    result = db.session.execute(
        update(OutboundEmail)
        .where(_due(now))
        .values(status=EmailStatus.HELD, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount or 0


def _release(session: Session, batch: list[Outgoing], locked_until: datetime) -> None:
    session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id.in_([outgoing.id for outgoing in batch]), OutboundEmail.locked_until == locked_until)
        .values(locked_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _withhold_opted_out(
    session: Session, batch: list[Outgoing], now: datetime, lease: timedelta, report: SendReport
) -> list[Outgoing]:
    """The batch less the messages an opt-out stops (crm.mail.opt_out) whose address is on the
    list, which are marked DEAD with the reason, and a line on their inquiry's timeline.

    The follow-up job checks the list when it queues, but a follow-up may wait in the outbox
    (retrying, or re-sent by an admin) while the family opts out. One query for the whole
    batch, and none for a batch without such a message (most batches). Only rows still
    claimed by this run are marked, as _release does."""
    hashes = {
        outgoing.id: email_hash(outgoing.to_address)
        for outgoing in batch
        if outgoing.kind in OPTED_OUT_KINDS and outgoing.to_address.strip()
    }
    if not hashes:
        return batch
    listed = opted_out_hashes(set(hashes.values()), session)
    stopped = {email_id for email_id, hashed in hashes.items() if hashed in listed}
    if stopped:
        marked = set(
            session.scalars(
                update(OutboundEmail)
                .where(
                    OutboundEmail.id.in_(stopped),
                    OutboundEmail.status == EmailStatus.PENDING,
                    OutboundEmail.locked_until == now + lease,
                )
                .values(status=EmailStatus.DEAD, locked_until=None, last_error=NOT_SENT_OPTED_OUT)
                .returning(OutboundEmail.id)
                .execution_options(synchronize_session=False)
            )
        )
        for outgoing in batch:
            if outgoing.id in marked and outgoing.inquiry_id is not None:
                session.add(
                    InquiryEvent(
                        inquiry_id=outgoing.inquiry_id,
                        occurred_at=now,
                        kind=InquiryEventKind.EMAIL_FAILED,
                        detail=f"{email_line(outgoing.kind, 'not sent to', outgoing.to_address)}: the family opted out",
                        data={"email_id": outgoing.id, "kind": outgoing.kind, "to": outgoing.to_address, "opted_out": True},
                    )
                )
        report.dead += len(marked)
        if marked:
            logger.info("%d email(s) not sent: the family opted out", len(marked))
    # Ends the read too: no transaction stays open while the batch is sent.
    session.commit()
    return [outgoing for outgoing in batch if outgoing.id not in stopped]


def _stored(session: Session, email_id: int) -> OutboundEmail | None:
    # As stored: the claim was a bulk UPDATE, which the session's copy does not know about.
    return session.get(OutboundEmail, email_id, populate_existing=True)


def _inquiry_event(
    session: Session, email: OutboundEmail, kind: InquiryEventKind, now: datetime, detail: str, **data: Any
) -> None:
    """What became of the email, as a line on the timeline of the inquiry it is about (if any)."""
    if email.inquiry_id is None:
        return
    session.add(
        InquiryEvent(
            inquiry_id=email.inquiry_id,
            occurred_at=now,
            kind=kind,
            detail=detail,
            data={"email_id": email.id, "kind": email.kind, "to": email.to_address, **data},
        )
    )


def _sent_event_values(outgoing: Outgoing, now: datetime) -> dict[str, Any]:
    return {
        "inquiry_id": outgoing.inquiry_id,
        "occurred_at": now,
        "kind": InquiryEventKind.EMAIL_SENT,
        "actor_id": None,
        "detail": email_line(outgoing.kind, "emailed to", outgoing.to_address),
        "data": {
            "email_id": outgoing.id,
            "kind": outgoing.kind,
            "to": outgoing.to_address,
            "message_id": outgoing.message_id,
        },
    }


def _sent_values(outgoing: Outgoing, now: datetime) -> dict[str, Any]:
    """What an acknowledgement sets: SENT and, for a sign-in link, its body with the token
    hidden (crm.mail.sign_in_links), written from the snapshot by the same UPDATE, so the row
    stops holding a working link with no further round trip."""
    return {
        "status": EmailStatus.SENT,
        "sent_at": now,
        "locked_until": None,
        **hidden_body_values(outgoing.kind, outgoing.body_text),
    }


def _mark_sent(outgoing: Outgoing, now: datetime):  # noqa: ANN202 (an UPDATE, or an INSERT that runs it first)
    """The acknowledgement as one statement: the outbox row marked SENT and, for an email about
    an inquiry, the timeline's line, written by the same statement (a data-modifying WITH on
    PostgreSQL), so it needs no transaction of its own."""
    mark = update(OUTBOX).where(OUTBOX.c.id == outgoing.id).values(_sent_values(outgoing, now))
    if outgoing.inquiry_id is None:
        return mark
    marked = mark.returning(OUTBOX.c.id).cte("marked")
    values = _sent_event_values(outgoing, now)
    columns = list(values)
    row = select(*(literal(values[name], type_=EVENTS.c[name].type) for name in columns)).select_from(marked)
    return insert(EVENTS).from_select(columns, row).add_cte(marked)


def _record_sent(outgoing: Outgoing, now: datetime, session: Session | None = None) -> None:
    """The acknowledgement: one UPDATE, the timeline's line if the email is about an inquiry,
    one commit; written from the snapshot, on the session's connection without the ORM (this
    runs once per message sent). On PostgreSQL the commit does not wait for the disk (see the
    module's docstring for what that risks: a repeat only if the database server crashes)."""
    session = session or db.session
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    connection.execute(update(OUTBOX).where(OUTBOX.c.id == outgoing.id).values(_sent_values(outgoing, now)))
    if outgoing.inquiry_id is not None:
        connection.execute(insert(EVENTS).values(**_sent_event_values(outgoing, now)))
    session.commit()


def _record_failure(
    outgoing: Outgoing,
    failure: DeliveryError,
    now: datetime,
    max_attempts: int,
    rng: UniformSource,
    session: Session | None = None,
) -> EmailStatus | None:
    session = session or db.session
    email = _stored(session, outgoing.id)
    if email is None:
        return None
    email.attempts += 1
    email.last_error = failure.reason
    email.locked_until = None
    if failure.permanent or email.attempts >= max_attempts:
        email.status = EmailStatus.DEAD
        # Not tried again unless an admin re-sends it: a sign-in link stops being readable
        # here, and an admin asks for a new link instead (crm.admin_outbox.services).
        email.body_text = hide_token(email.kind, email.body_text)
        outcome = "permanently rejected" if failure.permanent else f"gave up after {email.attempts} attempts"
    else:
        email.next_attempt_at = now + backoff_delay(email.attempts, rng)
        outcome = f"attempt {email.attempts} of {max_attempts}; will retry"
    _inquiry_event(
        session,
        email,
        InquiryEventKind.EMAIL_FAILED,
        now,
        f"{email_line(email.kind, 'not delivered to', email.to_address)} ({outcome}): {failure.reason}",
        attempts=email.attempts,
        dead=email.status is EmailStatus.DEAD,
    )
    status = email.status
    session.commit()
    # A server's reply can quote the recipient, a family's address: the log gets it masked
    # (the outbox page keeps the reply whole, for admins).
    logger.warning(
        "Email %s (%s) not delivered (%s): %s", outgoing.id, outgoing.kind, outcome, logs.mask_addresses(failure.reason)
    )
    return status


class _Drain:
    """The database side of a drain: one session on one connection, held from the first claim
    to the last acknowledgement, so no message pays for a checkout from the pool (and its
    liveness ping).

    Where the drain owns its connection to PostgreSQL, an acknowledgement is one statement in
    autocommit mode on a connection whose commits do not wait for the disk: one round trip.
    Claims still wait for the disk (claim_due). Elsewhere (SQLite, or a connection lent by the
    tests inside their own transaction) it is the transaction of _record_sent."""

    def __init__(self, session: Session, connection: DatabaseConnection | None) -> None:
        self.session = session
        self._autocommit_connection = connection

    @classmethod
    @contextmanager
    def opened(cls) -> Iterator[_Drain]:
        bind = db.engine
        if not isinstance(bind, Engine):  # the tests' connection, inside their transaction
            session = Session(bind=bind, join_transaction_mode="create_savepoint", expire_on_commit=False)
            try:
                yield cls(session, None)
            finally:
                session.close()
            return
        with bind.connect() as connection:
            session = Session(bind=connection, expire_on_commit=False)
            postgresql = connection.dialect.name == "postgresql"
            try:
                if postgresql:
                    connection.exec_driver_sql("SET synchronous_commit TO OFF")
                    connection.commit()
                yield cls(session, connection if postgresql else None)
            finally:
                session.close()
                if postgresql:
                    _reset_synchronous_commit(connection)

    def record_sent(self, outgoing: Outgoing, now: datetime) -> None:
        connection = self._autocommit_connection
        if connection is None:
            _record_sent(outgoing, now, self.session)
            return
        default_level = connection.default_isolation_level
        connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            connection.execute(_mark_sent(outgoing, now))
            connection.commit()  # ends SQLAlchemy's view of the transaction; no round trip
        except BaseException:
            connection.rollback()  # a lost connection is opened again by the retry
            raise
        finally:
            connection.execution_options(isolation_level=default_level)

    def record_failure(
        self, outgoing: Outgoing, failure: DeliveryError, now: datetime, max_attempts: int, rng: UniformSource
    ) -> EmailStatus | None:
        return _record_failure(outgoing, failure, now, max_attempts, rng, self.session)


def _reset_synchronous_commit(connection: DatabaseConnection) -> None:
    """Hand the connection back to the pool as it came: a connection that cannot be reset is
    dropped rather than pooled."""
    try:
        connection.rollback()
        connection.exec_driver_sql("RESET synchronous_commit")
        connection.commit()
    except Exception:  # noqa: BLE001 (a broken connection: not pooled again)
        connection.invalidate()


def _with_retries(session: Session, record: Callable[..., Result], outgoing: Outgoing, *args: Any) -> Result:
    """Record an outcome, trying again when the database is briefly unavailable (SQLite's
    "database is locked" when workers collide, a PostgreSQL failover): giving up on a sent
    message means sending it again once its claim expires."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            return record(outgoing, *args)
        except OperationalError:
            session.rollback()
            if attempt == RECORD_ATTEMPTS - 1:
                logger.error(
                    "Could not record the outcome for email %s; once its claim expires it is tried again "
                    "(if it was sent, it may arrive twice, with the same Message-ID)",
                    outgoing.id,
                )
                raise
            time.sleep(RECORD_RETRY_PAUSE * 2**attempt)
    raise AssertionError("unreachable")


class _RefusalStreak:
    """Permanent RCPT refusals not yet recorded, all with the same reply.

    A relay that wants a login we did not give (MAIL_USERNAME unset) refuses every recipient
    with the same permanent reply ("554 5.7.1 Relay access denied"): a fault of our settings,
    which is retried like a refused login, not a verdict on each address. So a permanent
    refusal is recorded (DEAD) only once the next message meets another outcome, or the run
    ends; the same reply for REFUSAL_STREAK different addresses in a row ends the run instead,
    those messages retried as after a temporary failure. One refused address among accepted
    ones is still DEAD at once (at the next message)."""

    def __init__(self) -> None:
        self.refusal: str | None = None
        self.waiting: list[tuple[Outgoing, DeliveryError]] = []

    def add(self, outgoing: Outgoing, failure: DeliveryError) -> bool:
        """Keep a refusal (the caller settled any other streak first); whether it is ours."""
        self.refusal = failure.refusal
        self.waiting.append((outgoing, failure))
        return len({waiting.to_address.strip().lower() for waiting, _failure in self.waiting}) >= REFUSAL_STREAK

    def take(self) -> list[tuple[Outgoing, DeliveryError]]:
        waiting, self.waiting, self.refusal = self.waiting, [], None
        return waiting


def _record_failed(
    drain: _Drain,
    outgoing: Outgoing,
    failure: DeliveryError,
    now: datetime,
    max_attempts: int,
    rng: UniformSource,
    report: SendReport,
) -> None:
    status = _with_retries(drain.session, drain.record_failure, outgoing, failure, now, max_attempts, rng)
    if status is EmailStatus.DEAD:
        report.dead += 1
    else:
        report.failed += 1


def _settle_refusals(
    drain: _Drain,
    streak: _RefusalStreak,
    now: datetime,
    max_attempts: int,
    rng: UniformSource,
    report: SendReport,
) -> None:
    """Record the refusals kept so far as what they are: permanent (the streak was broken)."""
    for outgoing, failure in streak.take():
        _record_failed(drain, outgoing, failure, now, max_attempts, rng, report)


def _deliver_batch(
    drain: _Drain,
    batch: list[Outgoing],
    now: datetime,
    lease: timedelta,
    connection: Connection,
    report: SendReport,
    rng: UniformSource,
    max_attempts: int,
    run_started: float,
    streak: _RefusalStreak,
) -> None:
    connection_failure: DeliveryError | None = None
    for position, outgoing in enumerate(batch):
        # Every batch of a run is claimed until the run's `now` + lease, so half the lease
        # counts from the run's start, not from this batch's claim.
        if time.monotonic() - run_started > lease.total_seconds() / 2:
            rest = batch[position:]
            _release(drain.session, rest, now + lease)
            report.released += len(rest)
            logger.warning("Half the lease has passed; %d claimed message(s) handed back unsent", len(rest))
            return
        failure = connection_failure
        if failure is None:
            try:
                # No transaction is open here: the claim is committed and `outgoing` is a
                # plain snapshot, so a slow server holds no locks.
                connection.send(outgoing)
            except DeliveryError as error:
                failure = error
            except Exception as error:  # a transport bug must not lose the message
                logs.log_failure(logger, "Unexpected error sending email %s", outgoing.id, error=error)
                failure = DeliveryError(describe_error(error))
            if failure is not None and failure.connection:
                connection_failure = failure  # the rest of the batch would fail the same way
                report.connection_failed = True
        if streak.refusal is not None and (failure is None or failure.refusal != streak.refusal):
            _settle_refusals(drain, streak, now, max_attempts, rng, report)
        if failure is not None and failure.refusal is not None:
            if streak.add(outgoing, failure):
                refused = streak.take()
                for refused_outgoing, refusal in refused:
                    retry = DeliveryError(refusal.reason)  # temporary: an attempt counted, not DEAD
                    _record_failed(drain, refused_outgoing, retry, now, max_attempts, rng, report)
                rest = batch[position + 1 :]
                if rest:
                    _release(drain.session, rest, now + lease)
                    report.released += len(rest)
                report.connection_failed = True  # ends the run and the drain
                logger.warning(
                    "The mail server refused %d messages in a row, to different addresses, with the same reply (%s): "
                    "taken as a fault of the mail settings (is MAIL_USERNAME set?), not of the addresses; "
                    "they will be retried, and the run stops",
                    len(refused),
                    refusal.refusal,
                )
                return
            continue
        if failure is None:
            # The duplicate window: sent, not yet recorded. Record it before anything else.
            _with_retries(drain.session, drain.record_sent, outgoing, now)
            report.sent += 1
        else:
            _record_failed(drain, outgoing, failure, now, max_attempts, rng, report)


def send_due(
    now: datetime,
    transport: Transport,
    *,
    rng: UniformSource = random,
    batch_size: int | None = None,
    limit: int | None = None,
    lease: timedelta = LEASE,
    drain: _Drain | None = None,
) -> SendReport:
    """Send the messages due at `now`, up to `limit` (MAX_PER_RUN), in batches of `batch_size` (BATCH_SIZE),
    over one connection. A batch that could not reach the server ends the run: what is still
    due waits for the next one, its attempts untouched.

    Without MAIL_SERVER (development) nothing is sent: due messages are marked HELD for an
    admin to read at /admin/outbox/.
    """
    if not current_app.config.get("MAIL_SERVER"):
        held = hold_due(now)
        if held:
            logger.info(
                "MAIL_SERVER is not set: %d due email(s) marked HELD, not sent; read them at %s", held, HELD_MAIL_PAGE
            )
        return SendReport(held=held)
    if drain is None:
        with _Drain.opened() as opened:
            return send_due(now, transport, rng=rng, batch_size=batch_size, limit=limit, lease=lease, drain=opened)

    max_attempts = max(int(current_app.config.get("MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)), 1)
    limit = limit or MAX_PER_RUN
    batch_size = batch_size or BATCH_SIZE
    report = SendReport()
    run_started = time.monotonic()
    handled: list[int] = []  # a message retried in this run (a zero backoff) waits for the next run
    streak = _RefusalStreak()  # kept across batches; what it holds when the run ends is DEAD
    with transport.connect() as connection:
        while len(handled) < limit:
            batch = claim_due(now, min(batch_size, limit - len(handled)), lease, exclude=handled, session=drain.session)
            if not batch:
                break
            handled.extend(outgoing.id for outgoing in batch)
            batch = _withhold_opted_out(drain.session, batch, now, lease, report)
            _deliver_batch(drain, batch, now, lease, connection, report, rng, max_attempts, run_started, streak)
            if report.released or report.connection_failed:
                break
    _settle_refusals(drain, streak, now, max_attempts, rng, report)
    return report


class _KeptConnection:
    """A transport that hands every run of a drain the one connection the drain opened."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self._connection


def send_all_due(transport: Transport, *, budget: timedelta = LEASE / 4, senders: int | None = None) -> SendReport:
    """Send what is due, run after run, until a run finds less than a full load (nothing more
    is waiting), cannot reach the server, or `budget` has passed. The budget keeps a whole call
    inside the send-mail job's lease (crm.jobs.catalogue): a run started just before it ends
    stops sending once half of its own claim has passed.

    `senders` (MAIL_SENDERS) drains run side by side in threads, each with its own SMTP
    connection, database connection and claimed batches, exactly as separate runners would:
    one message's round trips to the SMTP server and the database overlap another's."""
    started = time.monotonic()
    senders = _senders_the_pool_allows(
        db.engine, senders or int(current_app.config.get("MAIL_SENDERS", DEFAULT_SENDERS))
    )
    if senders <= 1 or not current_app.config.get("MAIL_SERVER"):
        # One sender: also without MAIL_SERVER (nothing is sent).
        return _drain(transport, started, budget)
    app = current_app._get_current_object()  # noqa: SLF001 (Flask's documented way to hand the app to a thread)
    reports = [SendReport() for _ in range(senders)]
    errors: list[BaseException] = []

    def sender(index: int) -> None:
        with app.app_context():
            try:
                reports[index] = _drain(transport, started, budget)
            except BaseException as error:  # raised again below, in the caller's thread
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sender, args=(index,), name=f"mail-sender-{index}") for index in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(reports, SendReport())


def _senders_the_pool_allows(bind: Engine | DatabaseConnection, wanted: int) -> int:
    """How many of `wanted` senders can each have a database connection without waiting for the
    pool: on PostgreSQL, up to the pool's size and overflow less what this process already
    holds. One on SQLite (one writer at a time), and on a connection lent by the tests, which
    threads cannot share."""
    if wanted <= 1 or not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return 1
    pool = bind.pool
    if not isinstance(pool, QueuePool):
        return 1
    max_overflow = pool._max_overflow  # noqa: SLF001 (QueuePool has no public reader for it)
    if max_overflow < 0:  # no limit
        return wanted
    return max(min(wanted, pool.size() + max_overflow - pool.checkedout()), 1)


def _drain(transport: Transport, started: float, budget: timedelta) -> SendReport:
    """One sender: runs over one SMTP connection and one database connection."""
    report = SendReport()
    with transport.connect() as connection, _Drain.opened() as drain:
        kept = _KeptConnection(connection)
        while True:
            run = send_due(utcnow(), kept, drain=drain)
            report += run
            if (
                run.total < MAX_PER_RUN
                or run.released
                or run.connection_failed
                or time.monotonic() - started > budget.total_seconds()
            ):
                return report


def send_mail_job(_now: datetime) -> str:
    """The send-mail job: deliver (or, without MAIL_SERVER, hold) everything due."""
    report = send_all_due(SMTPTransport.from_config(current_app.config))
    if report.total:
        logger.info(report.summary())
    return report.summary()


def destination(config: Mapping[str, Any]) -> str:
    """Where due mail goes, for a runner's start-up line."""
    transport = SMTPTransport.from_config(config)
    if transport.host:
        return f"{transport.host}:{transport.port}"
    return f"nowhere: MAIL_SERVER is not set, so due mail is held for reading at {HELD_MAIL_PAGE}"


def drain_outbox() -> int:
    """Send everything due now (within the send-mail job's budget) through MAIL_SERVER, as the
    send-mail job does; how many were sent. For benchmarks and scripts."""
    return send_all_due(SMTPTransport.from_config(current_app.config)).sent
