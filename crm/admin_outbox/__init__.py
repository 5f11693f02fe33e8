"""Admin pages for the outbox: what is waiting, what failed, what was held in development,
and re-sending a dead or held message."""
