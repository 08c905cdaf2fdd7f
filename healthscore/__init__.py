"""The `healthscore` command: `python -m healthscore` or the `healthscore` script."""
