"""Evaluation logs of other tools as frozen sides of a pair: `lm-eval:PATH` (lm-evaluation-harness samples) and
`inspect:PATH` (inspect_ai logs). No model is loaded and torch is never imported: CI without a GPU gates what a
GPU machine evaluated (docs/logs.md)."""
