"""Synthetic B2B spend with ground truth, the threshold response, what-if runs of designs.

Public names (each also importable from the module in parentheses):

- ``SimulationParams`` (params): Parameters of the customer-base simulator (defaults calibrated
  on Online Retail)
- ``calendar_weights`` (params): Relative order intensity of each day (season x weekday x
  month/quarter-end peak)
- ``ONLINE_RETAIL_SEASON`` (params)
- ``simulate_data`` (generator): Simulate a B2B customer base and its invoice lines
- ``SimulatedData`` (generator): A simulated data folder in memory, with its ground truth
- ``Truth`` (generator): The ground truth of a simulated data folder (:func:`read_truth`)
- ``read_truth`` (generator): Read the ground truth written by :func:`write_data_folder`
- ``write_data_folder`` (generator): Write a simulated data folder: the four tables,
  ``programs.yaml`` and ``truth/``
- ``expected_spend`` (truth): True expected spend of each customer in the window [start, end]
  [currency]
- ``expected_orders`` (truth): True expected number of orders of each customer in the window
  [start, end]
- ``eligible_share`` (truth): True expected share of each customer's spend that falls on a set
  of products
- ``default_programs`` (designs): Programs exercising every feature of the program file, sized
  on the simulated spend
- ``threshold_response`` (response): Purchase each customer adds to reach the next tier, 0 where
  it does not respond
- ``apply_response`` (response): Move simulated purchases by the threshold response to the
  simulated programs
- ``WhatIfBase`` (base): Per-customer spend model and history that what-if runs draw scenarios
  from
- ``whatif_base`` (whatif): Estimate each customer's spend model from a data folder's history
- ``simulate_program`` (whatif): Payout, participation and provoked revenue of candidate
  programs over scenarios
- ``WhatIfResult`` (whatif): Per-scenario outcomes of candidate programs evaluated on the same
  scenarios
- ``METRICS`` (whatif)
- ``compare_designs`` (compare): Payout, cost, tier counts and provoked revenue of designs next
  to the current program
- ``check_design`` (compare): What is wrong or odd with a design, in words

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.simulation.params": [
            "SimulationParams",
            "calendar_weights",
            "ONLINE_RETAIL_SEASON",
        ],
        "rebatelab.simulation.generator": [
            "simulate_data",
            "SimulatedData",
            "Truth",
            "read_truth",
            "write_data_folder",
        ],
        "rebatelab.simulation.truth": ["expected_spend", "expected_orders", "eligible_share"],
        "rebatelab.simulation.designs": ["default_programs"],
        "rebatelab.simulation.response": ["threshold_response", "apply_response"],
        "rebatelab.simulation.base": ["WhatIfBase"],
        "rebatelab.simulation.whatif": [
            "whatif_base",
            "simulate_program",
            "WhatIfResult",
            "METRICS",
        ],
        "rebatelab.simulation.compare": ["compare_designs", "check_design"],
    },
)
