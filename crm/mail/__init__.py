"""Outgoing email, written to the outbox and delivered by the job runner.

- outbox.py: queue an email in the same transaction as the change that causes it.
- worker.py: `send_due` claims what is due, sends it and records the outcome;
  `send_mail_job` is the job runner's send-mail job (crm.jobs). Without MAIL_SERVER
  (development) nothing is sent: due mail is marked HELD and read at /admin/outbox/.
- smtp.py: the SMTP transport, and which SMTP failures are worth retrying.
- sign_in_links.py: invitation and reset emails, whose stored link loses its token once the
  email is sent or dead.

Mail sits below the features: it imports no feature package.
"""
