"""lumen-argus: the proxy and its dashboard."""

DISTRIBUTION = "lumen-argus-proxy"
SERVICE = "lumen-argus-proxy"
PASSWORD_ENV = "LUMEN_ARGUS_DASHBOARD_PASSWORD"
