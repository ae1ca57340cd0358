"""HTTP API of runs, atoms and files (DRF). Views translate; services decide."""
