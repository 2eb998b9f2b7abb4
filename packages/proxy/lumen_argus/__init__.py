"""lumen-argus: the proxy and its dashboard."""

DISTRIBUTION = "lumen-argus-proxy"
# What /api/v1/build reports as `service`: the binary's name, which apps compare.
SERVICE = "lumen-argus"
PASSWORD_ENV = "LUMEN_ARGUS_DASHBOARD_PASSWORD"
