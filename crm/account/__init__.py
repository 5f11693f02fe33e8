"""Your own account: change your password."""
