"""Inquiry routing: pure rule evaluation, no database."""
