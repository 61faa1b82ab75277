"""Matplotlib plots. Each takes the package's frames, draws on ``ax`` and returns it."""
