"""The engine.

Stage one reduces invoice lines to per (program, customer[, day]) sums; stage two settles
them (pools, baselines, tiers, caps, payable).
"""
