"""Contacts feature."""
