"""Forecasting the end-of-period basis, the probability of the next tier, the expected rebate.

Also backtests that score the forecasts on history.
"""
