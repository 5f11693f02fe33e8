"""Geographic reference data and ZIP-to-county lookup."""
