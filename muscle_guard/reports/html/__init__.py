"""HTML renderers: the page shell, one run, a comparison of runs, and their plots."""
