"""`python -m bench`: healthscore's throughput, latency and footprint benchmark."""
