"""Data sets: the bundled sample and converters for public data."""
