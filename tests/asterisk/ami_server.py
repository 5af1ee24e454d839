"""Asterisk's side of AMI for tests: the simulator the demo uses too (router.asterisk.amisim)."""

from router.asterisk.amisim import BANNER, AMIServer, block, recorded_events

__all__ = ["BANNER", "AMIServer", "block", "recorded_events"]
