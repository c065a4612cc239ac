"""Decisions built on scores: forecast, targets, routing, the silent-lead sweep, follow-up quality, rep health."""
