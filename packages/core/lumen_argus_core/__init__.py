"""Shared pieces of the lumen-argus services: build identity and loopback binding."""
