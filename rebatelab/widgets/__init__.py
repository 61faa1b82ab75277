"""Interactive views for notebooks and Voila dashboards (needs ipywidgets and matplotlib).

Each view is a class holding its controls as attributes and a ``refresh()`` method that
calls the package's functions; display the object in a notebook to show it. Figures are
rendered to PNG into ``ipywidgets.Image`` widgets (no Output widget, no pyplot).

Public names (each imported on first use, :mod:`rebatelab._lazy`):

- views: ``ProgramDesigner`` (design), ``ReviewDashboard`` (review; ``OpportunityReview`` is
  its former name), ``LiabilityForecast`` (liability), and their base class ``View`` (_base);
- helpers (_base): ``show`` (a figure as a static PNG for a cell), ``new_figure``, ``figure_png``,
  ``html_table``;
- the liability plots, from :mod:`rebatelab.plotting.liability`: ``plot_monthly_sales``,
  ``plot_liability``, ``plot_rollforward``, ``plot_total_distribution``.
"""

from rebatelab._lazy import lazy_exports

# each view is imported when first named: opening the sales review does not import the
# designer's simulation or the liability's forecast (a fresh kernel renders sooner)
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.widgets._base": ["View", "figure_png", "html_table", "new_figure", "show"],
        "rebatelab.plotting.liability": [
            "plot_monthly_sales",
            "plot_liability",
            "plot_rollforward",
            "plot_total_distribution",
        ],
        "rebatelab.widgets.design": ["ProgramDesigner"],
        "rebatelab.widgets.liability": ["LiabilityForecast"],
        "rebatelab.widgets.review": ["OpportunityReview", "ReviewDashboard"],
    },
)
