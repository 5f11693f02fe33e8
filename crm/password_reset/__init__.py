"""“Forgot your password?”: a single-use, expiring link by email to choose a new one."""
