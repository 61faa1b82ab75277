"""Reports: summaries, customer statements and digests as tables and HTML."""
