"""Run the periodic jobs: each under its lease (crm.jobs.locks), in its own transaction and
its own error handling, so that one failing job never stops the others or mail delivery.

A failure is logged (its traceback's frames and the exception's type: crm.logs, never its
message, which can quote an inquiry) and recorded on the job's row; the job is tried again
at its next turn, and no later than FAILURE_RETRY.
"""

from __future__ import annotations

import enum
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm import logs, outage
from crm.database import utcnow
from crm.extensions import db
from crm.jobs import locks

logger = logging.getLogger(__name__)

FAILURE_RETRY = timedelta(minutes=5)


@dataclass(frozen=True)
class Job:
    name: str
    # Does the work in transactions of its own (committing them) and returns one line of
    # counts for `--once` and `--status`; given the time the run started.
    run: Callable[[datetime], str]
    # None: at every poll of the runner.
    every: timedelta | None
    # Longer than a run can take: a runner that dies holding the lease blocks the job this long.
    lease: timedelta
    description: str

    def next_run_after(self, started_at: datetime, failed: bool) -> datetime:
        if self.every is None:
            return started_at
        return started_at + (min(self.every, FAILURE_RETRY) if failed else self.every)


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    BUSY = "running elsewhere"  # another runner holds the lease
    NOT_DUE = "not due"


@dataclass(frozen=True)
class JobRun:
    job: str
    outcome: Outcome
    detail: str = ""  # the summary of a run that succeeded, or what went wrong

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    def line(self) -> str:
        return f"{self.job}: {self.outcome.value}" + (f": {self.detail}" if self.detail else "")


def _end_transaction() -> None:
    outage.roll_back()
    outage.end_session()


def run_job(job: Job, owner: str, *, force: bool = False) -> JobRun:
    """Run one job if this runner can lease it (and, unless `force`, it is due)."""
    started_at = utcnow()
    if not locks.take_lease(job.name, owner, started_at, job.lease, due_only=not force):
        return JobRun(job.name, Outcome.BUSY if force else Outcome.NOT_DUE)
    try:
        summary = job.run(started_at)
        db.session.commit()  # anything the job left pending belongs to its run
    except Exception as error:
        _end_transaction()
        described = logs.describe(error)
        logs.log_failure(logger, "Job %s failed; the other jobs go on", job.name, error=error)
        locks.finish(job.name, owner, utcnow(), job.next_run_after(started_at, failed=True), error=described)
        return JobRun(job.name, Outcome.FAILED, described)
    finally:
        outage.end_session()
    if not locks.finish(job.name, owner, utcnow(), job.next_run_after(started_at, failed=False), summary=summary):
        logger.warning("Job %s outlasted its lease and another runner took it over", job.name)
    return JobRun(job.name, Outcome.DONE, summary)


def run_jobs(
    jobs: Sequence[Job], owner: str, *, force: bool = False, stop: threading.Event | None = None
) -> list[JobRun]:
    """One pass over `jobs`, in order. Whatever goes wrong with one (the job, or the database
    while taking or handing back its lease) is logged and the next one still runs."""
    runs: list[JobRun] = []
    try:
        locks.register([job.name for job in jobs], utcnow())
    except Exception as error:
        _end_transaction()
        logs.log_failure(logger, "Could not register the jobs; trying each anyway", error=error)
    for job in jobs:
        if stop is not None and stop.is_set():
            break
        try:
            runs.append(run_job(job, owner, force=force))
        except Exception as error:
            _end_transaction()
            logs.log_failure(logger, "Could not run job %s", job.name, error=error)
            runs.append(JobRun(job.name, Outcome.FAILED, logs.describe(error)))
    return runs


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM or Ctrl-C: finish the job in hand, then stop. A second Ctrl-C stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        logger.info("Received %s: stopping after the current job", signal.Signals(signum).name)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_forever(jobs: Sequence[Job], owner: str, poll_seconds: float, stop: threading.Event | None = None) -> None:
    """Run what is due every `poll_seconds` until stopped (SIGTERM, Ctrl-C or `stop`)."""
    stop = stop or threading.Event()
    with stop_on_signals(stop):
        while not stop.is_set():
            try:
                for run in run_jobs(jobs, owner, stop=stop):
                    if run.outcome is not Outcome.NOT_DUE:
                        logger.debug(run.line())
            except Exception as error:  # run_jobs catches per job; this is the last guard
                _end_transaction()
                logs.log_failure(logger, "Job runner pass failed; trying again in %s s", poll_seconds, error=error)
            finally:
                outage.end_session()
                db.session.remove()
            stop.wait(poll_seconds)
