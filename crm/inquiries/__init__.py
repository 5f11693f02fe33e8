"""Inquiries from the public form: their workflow statuses and the response-time clock."""
