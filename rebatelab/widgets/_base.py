"""The room every view shares: a figure rendered to PNG into an ``ipywidgets.Image``.

Figures are plain :class:`matplotlib.figure.Figure` objects (never pyplot), drawn by the
package's plot helpers, rendered to PNG bytes and placed in an ``Image`` widget. No
``Output`` widget is used, so a view behaves the same in JupyterLab, in Voila and in tests.
"""

from __future__ import annotations

import abc
import html
import io
from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from rebatelab.errors import RebateLabError
from rebatelab.money import money as _money
from rebatelab.report.html import html_table

__all__ = [
    "View", "new_figure", "figure_png", "show", "html_table", "money", "currency_of", "ALL",
]  # fmt: skip

#: Resolution of the images [dots per inch].
DPI = 90
#: The choice that means "no filter" in a filter dropdown.
ALL = "(all)"

_CSS = """
<style>
.rl-table table {border-collapse: collapse; font-size: 13px;}
.rl-table th {background: #eef2f7; text-align: left; padding: 3px 8px;}
.rl-table td {padding: 3px 8px; border-top: 1px solid #dde3ea; vertical-align: top;}
.rl-table td.num, .rl-table th.num {text-align: right; font-variant-numeric: tabular-nums;}
.rl-error {color: #b00020;}
</style>
"""


def new_figure(*, width: float = 9.0, height: float = 3.6, ncols: int = 1, nrows: int = 1,
               layout: str | None = "constrained"):  # fmt: skip
    """A pyplot-free figure with a constrained layout and its axes.

    Parameters
    ----------
    width, height : float
        Size [inches].
    ncols, nrows : int
        Grid of axes.
    layout : str or None
        Matplotlib's layout engine; None for axes placed by the caller (no layout pass, and
        one drawing per PNG instead of two).

    Returns
    -------
    (Figure, ndarray of Axes)
        The axes array is always 1-D (flattened).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)  # type: ignore[arg-type]
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    return fig, axes


def figure_png(fig, *, dpi: int = 90) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas (no pyplot, no display).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int
        Resolution [dots per inch].

    Returns
    -------
    bytes
        The PNG file's content.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show(fig_or_ax, *, dpi: int = 90):
    """A static PNG of a figure (or of an Axes' figure) for a notebook cell's output.

    The figure is cropped to its artists (``bbox_inches="tight"``), so labels are never cut.

    Parameters
    ----------
    fig_or_ax : matplotlib Figure or Axes
    dpi : int
        Resolution [dots per inch].

    Returns
    -------
    IPython.display.Image
    """
    from IPython.display import Image
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = fig_or_ax.get_figure() if hasattr(fig_or_ax, "get_figure") else fig_or_ax
    fig = getattr(fig, "figure", fig)  # a SubFigure's root figure
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return Image(data=buf.getvalue(), format="png")


def currency_of(data) -> str:
    """The data's single currency code (``currency`` column of the lines), else ``""``.

    A Reduction carries no lines, hence no code: ``""``.
    """
    lines = getattr(data, "transactions", None)
    cur = None if lines is None else lines.get("currency")
    if cur is None:
        return ""
    values = pd.unique(cur.dropna())
    return str(values[0]) if len(values) == 1 else ""


def money(value, currency: str = "") -> str:
    """``12,345`` (or ``12,345 USD``); an en dash for a missing value.

    The views' style of :func:`rebatelab.money.money`: no symbol, the code after the number.
    """
    return _money(value, currency="", code=currency, missing="\u2013")


class View(abc.ABC):
    """Base of the interactive views: a layout, a status line and figures shown as PNG.

    Subclasses build their controls as attributes, put them in ``self.widget`` and implement
    :meth:`refresh`. Displaying a view in a notebook displays ``self.widget``.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole view.
    status : ipywidgets.HTML
        One line of status (or the message of a bad input).
    figures : dict of str -> Figure
        The last figure drawn in each image, for tests to inspect its artists.
    images : dict of str -> ipywidgets.Image
        The image widgets, by name.
    """

    def __init__(self):
        self.status = w.HTML(value="", layout=w.Layout(min_height="1.5em"))
        self.status.add_class("rl-status")
        self.figures: dict = {}
        self.images: dict[str, w.Image] = {}
        self._layouts: dict = {}
        self._to_freeze: dict = {}
        self._layers: dict = {}
        self.widget = w.VBox([])
        self.error: str | None = None

    # -- building blocks -----------------------------------------------------------------
    def _figure(self, name: str, key=None, **size):
        """A new figure for the image ``name`` (:func:`new_figure`), laid out once per ``key``.

        The constrained layout's pass takes about half the drawing time; a figure redrawn on
        every click with the same kind of content (``key``: e.g. the same program) reuses the
        axes' positions that the first drawing computed instead.
        """
        boxes = self._layouts.get((name, key))
        n = size.get("ncols", 1) * size.get("nrows", 1)
        if boxes is not None and len(boxes) == n:
            # no layout engine at all: a placeholder engine would make savefig draw twice
            fig, axes = new_figure(**size, layout=None)
            for ax, box in zip(axes, boxes, strict=True):
                ax.set_position(box)
        else:
            fig, axes = new_figure(**size)
            self._to_freeze[name] = (key, axes)
        return fig, axes

    def _image(self, name: str) -> w.Image:
        img = w.Image(format="png", layout=w.Layout(max_width="100%", height="auto"))
        img.add_class("rl-image")
        img.add_class(f"rl-image-{name}")
        self.images[name] = img
        return img

    def _show(self, name: str, fig) -> None:
        """Keep ``fig`` for inspection and put its PNG in the image ``name``."""
        self._layers.pop(name, None)
        self.figures[name] = fig
        img = self.images[name]
        if name in self._layouts or any(k[0] == name for k in self._layouts):
            for ax in fig.axes:  # titles at the top edge: skip matplotlib's search above
                ax._autotitlepos = False  # the tick labels (a fifth of the drawing time)
        img.value = figure_png(fig, dpi=DPI)
        self._freeze_layout(name, fig)
        img.layout.width = f"{round(fig.get_figwidth() * DPI)}px"  # natural size, not stretched

    def _show_layered(self, name: str, fig, moving, *, settle: bool = False,
                      plain: Callable[[], Callable[[], None]] | None = None) -> None:  # fmt: skip
        """Show ``fig`` and keep its rendering without the ``moving`` artists, for :meth:`_move`.

        The figure is drawn once without them (the background, kept as pixels), then they
        are drawn over it; a later :meth:`_move` redraws only them over the kept background.

        Parameters
        ----------
        name : str
            The image.
        fig : matplotlib.figure.Figure
        moving : list of Artist
            Drawn over the background on every :meth:`_move` (an Axes is a whole panel).
        settle : bool
            Lay the figure out with every artist first (one full drawing; for moving artists
            whose room the layout must keep, such as a panel's tick labels), then fix the
            axes' positions and drop the layout engine.
        plain : callable, optional
            Puts the figure in its background state and returns the callable that undoes
            it, run around the background's drawing (default: hide the ``moving`` artists;
            e.g. a highlighted bar is drawn plain in the background, highlighted over it).
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.figures[name] = fig
        fig.set_dpi(DPI)
        canvas = FigureCanvasAgg(fig)
        if settle and fig.get_layout_engine() is not None:
            fig.draw_without_rendering()  # the layout pass (text measured, nothing painted)
            for ax in fig.axes:
                ax.set_position(ax.get_position().frozen())
            fig.set_layout_engine(None)
        if plain is None:

            def plain():
                for a in moving:
                    a.set_visible(False)
                return lambda: [a.set_visible(True) for a in moving]

        undo = plain()
        canvas.draw()
        background = canvas.copy_from_bbox(fig.bbox)
        undo()
        if fig.get_layout_engine() is not None:  # laid out once: a redraw keeps the positions
            for ax in fig.axes:
                ax.set_position(ax.get_position().frozen())
            fig.set_layout_engine(None)
        self._layers[name] = (fig, canvas, background, list(moving))
        self._paint(name)
        self._freeze_layout(name, fig)

    def _freeze_layout(self, name: str, fig) -> None:
        """Keep the axes' positions of a figure just laid out, for the next drawing of ``name``."""
        key, axes = self._to_freeze.pop(name, (None, None))
        if axes is not None and all(ax.figure is fig for ax in axes):
            self._layouts[(name, key)] = [ax.get_position().frozen() for ax in axes]

    def _move(self, name: str, moving=None) -> bool:
        """Redraw only the moving artists of image ``name`` (changed in place by the caller).

        ``moving`` replaces the list of artists drawn over the background (new artists of
        the same figure); False when the image holds no layered drawing.
        """
        if name not in self._layers:
            return False
        if moving is not None:
            fig, canvas, background, _old = self._layers[name]
            self._layers[name] = (fig, canvas, background, list(moving))
        self._paint(name)
        return True

    def _paint(self, name: str) -> None:
        from PIL import Image

        fig, canvas, background, moving = self._layers[name]
        canvas.restore_region(background)
        for a in moving:
            fig.draw_artist(a)
        width, height = canvas.get_width_height()
        buf = io.BytesIO()
        Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1
                         ).save(buf, format="png", compress_level=1)  # fmt: skip
        img = self.images[name]
        img.value = buf.getvalue()
        img.layout.width = f"{width}px"

    @staticmethod
    def _css() -> w.HTML:
        return w.HTML(_CSS)

    def _watch(self, *controls, handler: Callable[[], None] | None = None) -> None:
        """Call ``handler`` (default :meth:`refresh`) whenever a control's value changes."""
        target = handler or self.refresh
        for c in controls:
            c.observe(lambda _change, f=target: self._guarded(f), names="value")

    def _guarded(self, fn: Callable[[], None]) -> None:
        """Run a callback; a bad input (RebateLabError) is shown in the status, not raised."""
        try:
            fn()
        except RebateLabError as exc:
            self._fail(str(exc))

    def _fail(self, message: str) -> None:
        self.error = message
        self.status.value = f"<span class='rl-error'>{html.escape(message)}</span>"

    def _ok(self, message_html: str) -> None:
        self.error = None
        self.status.value = message_html

    @abc.abstractmethod
    def refresh(self) -> None:
        """Recompute and redraw everything from the controls' values."""

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
