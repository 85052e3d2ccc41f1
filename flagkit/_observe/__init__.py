"""Observation (private): hooks, usage counts and exposures around an evaluation."""
