"""Suites from data people already have: Hugging Face `datasets` sources and lm-evaluation-harness tasks.

A ring of its own between core and the command line (core ← importers ← cli): it reads third-party formats
through their own libraries (`datasets`, `lm_eval`, both optional extras) and writes ordinary, validated suites.
"""
