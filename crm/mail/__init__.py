"""Outgoing email, written to the outbox and delivered by a worker.

- outbox.py: queue an email in the same transaction as the change that causes it.
- worker.py: `send_due` claims what is due, sends it and records the outcome; the
  `crm worker` command runs it in a loop. Without MAIL_SERVER (development) nothing is
  sent: due mail is marked HELD and read at /admin/outbox/.
- smtp.py: the SMTP transport, and which SMTP failures are worth retrying.
"""
