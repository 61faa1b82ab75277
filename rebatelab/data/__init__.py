"""The data model: validated tables of invoice lines, customers, products, enrollments, payments.

Public names (each also importable from the module in parentheses):

- ``RebateData`` (tables): A validated data folder
- ``SCHEMAS`` (tables)

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.data.tables": ["RebateData", "SCHEMAS"],
    },
)
