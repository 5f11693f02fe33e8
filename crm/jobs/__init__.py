"""The job runner: the periodic work apart from the web app and apart from any one feature.

- catalogue.py: which jobs run and how often (send-mail, sla-checks, retention-purge).
- locks.py: a lease per job in `scheduled_jobs`, so two runners never run a job at once.
- runner.py: each job in its own transaction and error handling; the polling loop.
- cli.py: `flask crm jobs` (`--once`, `--only NAME`, `--status`).

This package sits above the features it schedules; nothing below imports it.
"""
