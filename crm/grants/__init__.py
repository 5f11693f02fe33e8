"""Grants feature."""
