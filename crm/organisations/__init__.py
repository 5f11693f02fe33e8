"""Partner organisations: list, detail with timeline, create, edit, deactivate."""
