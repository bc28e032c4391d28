"""Helpers of `evaluate privacy`: attackers, trial lists and metrics (not a command themselves)."""
