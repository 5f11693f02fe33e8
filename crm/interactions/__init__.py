"""Interactions feature."""
