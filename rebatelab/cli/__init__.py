"""The command line: ``rebatelab <command> ...``."""
