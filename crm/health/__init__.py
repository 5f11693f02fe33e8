"""The load balancer's health check (`/healthz`, crm.health.routes)."""

HEALTH_CHECK_PATH = "/healthz"
