"""lumen-argus-agent: the loopback relay."""

DISTRIBUTION = "lumen-argus-agent"
SERVICE = "lumen-argus-agent"
