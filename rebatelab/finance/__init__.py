"""Liability: distributions of the rebate owed, constrained estimates, roll-forward arithmetic."""
