"""The JSON API at /api/v1/: personal tokens, the OpenAPI document, and the resources."""
