"""Shared pieces of the lumen-argus services: build identity, loopback binding, stop signals,
the command line, the status payload, and what the sidecars' PyInstaller specs share."""
