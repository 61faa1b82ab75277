"""Interactive views for notebooks and Voila dashboards (needs ipywidgets and matplotlib).

Each view is a class holding its controls as attributes and a ``refresh()`` method that
calls the package's functions; display the object in a notebook to show it. Figures are
rendered to PNG into ``ipywidgets.Image`` widgets (no Output widget, no pyplot).

Public names:

- views: ``ProgramDesigner`` (design), ``ReviewDashboard`` (review; ``OpportunityReview`` is
  its former name), ``LiabilityForecast`` (liability), and their base class ``View`` (_base);
- helpers (_base): ``show`` (a figure as a static PNG for a cell), ``new_figure``, ``figure_png``,
  ``html_table``;
- the liability plots, from :mod:`rebatelab.plotting.liability`: ``plot_monthly_sales``,
  ``plot_liability``, ``plot_rollforward``, ``plot_total_distribution``.
"""

from rebatelab.plotting.liability import (
    plot_liability,
    plot_monthly_sales,
    plot_rollforward,
    plot_total_distribution,
)
from rebatelab.widgets._base import View, figure_png, html_table, new_figure, show
from rebatelab.widgets.design import ProgramDesigner
from rebatelab.widgets.liability import LiabilityForecast
from rebatelab.widgets.review import OpportunityReview, ReviewDashboard

__all__ = [
    "View",
    "figure_png",
    "html_table",
    "new_figure",
    "show",
    "plot_monthly_sales",
    "ProgramDesigner",
    "LiabilityForecast",
    "OpportunityReview",
    "ReviewDashboard",
    "plot_liability",
    "plot_rollforward",
    "plot_total_distribution",
]
