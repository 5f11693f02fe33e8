"""Possible duplicates and merging two contacts or two organisations into one."""
