"""Reports: summaries, customer statements and digests as tables and HTML.

Public names (each also importable from the module in parentheses):

- ``program_summary`` (summary): Per program: members, customers per tier, basis, earned and
  payable [currency]
- ``nearest_to_next_tier`` (summary): The ``n`` rows with time left whose pool is closest to its
  next tier, relative to it
- ``digest_html`` (digest): A digest (:func:`digest`) as a standalone HTML page: the top
  findings of each kind
- ``rollforward_report``, ``accrual_report``, ``aging_report``, ``journal_entries``,
  ``Accounts`` (finance): the reports finance expects, from the workspace's closes
- ``write_workbook``, ``workbook_bytes`` (xlsx): formatted xlsx workbooks with a cover sheet
- ``html_table``, ``html_page``, ``html_rows`` (html): escaped HTML tables and pages, for the
  reports and the notebook views (all HTML is built in this room)

Not re-exported here, because a module of this room has the same name: ``statement``
(:func:`rebatelab.statement`), ``digest`` (:func:`rebatelab.report.digest.digest`).

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.report.summary": ["program_summary", "nearest_to_next_tier"],
        "rebatelab.report.digest": ["digest_html"],
        "rebatelab.report.html": ["html_table", "html_page", "html_rows"],
        "rebatelab.report.finance": [
            "rollforward_report",
            "accrual_report",
            "aging_report",
            "journal_entries",
            "Accounts",
        ],
        "rebatelab.report.xlsx": ["write_workbook", "workbook_bytes"],
    },
)
