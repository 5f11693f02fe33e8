"""Invitations: a contact, or a foundation colleague, receives a link to choose a password."""
