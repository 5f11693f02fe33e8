"""Login, logout and who may reach what."""
