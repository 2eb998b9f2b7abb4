"""lumen-argus-agent: the loopback relay."""

DISTRIBUTION = "lumen-argus-agent"
# What /api/v1/build reports as `service`: the binary's name, which apps compare.
SERVICE = "lumen-argus-agent"
