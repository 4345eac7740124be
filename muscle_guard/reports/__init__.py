"""Renderers: a core RunReport (or a comparison of two) as terminal tables, Markdown, HTML pages and plots."""
