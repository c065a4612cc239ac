"""Canonical CRM tables, importers, the synthetic CRM simulator and point-in-time features.

This package imports nothing else of salesml's: training and serving build on it.
"""
