"""A simulated mid-size B2B sales organisation's CRM, with its ground truth kept apart.

``synthesize`` writes the seven canonical tables (Parquet + manifest.yaml) and ``_truth/``: the true
probabilities, the drawn outcomes, the planted drivers and the oracle figures. The data is meant to be as
hard as a real CRM: outcomes are drawn at random, part of the signal is unobserved, nothing shows before
it happens, and every planted driver is visible in the tables before the outcome.
"""

from features.synth.run import SynthResult, synthesize

__all__ = ["SynthResult", "synthesize"]
