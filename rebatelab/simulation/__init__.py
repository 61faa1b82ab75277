"""Synthetic B2B spend with ground truth, the threshold response, what-if runs of designs."""
