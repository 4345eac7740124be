"""Demo and benchmark assets: real models and suites from pinned packages, never downloaded from a hub."""
