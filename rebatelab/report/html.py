"""HTML in one place: escaped tables and standalone pages for reports and the notebook views.

Every piece of text is escaped here; callers pass plain text.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping

import pandas as pd

__all__ = ["html_table", "html_page", "html_rows"]

escape = html.escape


def html_page(title: str, body: str, *, css: str) -> str:
    """A standalone HTML page (UTF-8) with ``title`` (escaped), a style sheet and ``body``.

    Examples
    --------
    >>> page = html_page("A & B", "<p>x</p>", css="p{}")
    >>> page.startswith("<!DOCTYPE html>"), "<title>A &amp; B</title>" in page
    (True, True)
    """
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{css}</style></head><body>"
        + body
        + "</body></html>\n"
    )


def html_rows(rows: Iterable[Iterable[str]], *, text_columns: Iterable[int] = ()) -> str:
    """Table rows ``<tr><td>..</td></tr>`` of plain-text cells (escaped).

    Parameters
    ----------
    rows : iterable of iterables of str
        One iterable of cell texts per row.
    text_columns : iterable of int
        Positions of the cells given ``class="text"`` (left-aligned text).

    Examples
    --------
    >>> html_rows([["a<b", "1"]], text_columns=[0])
    '<tr><td class="text">a&lt;b</td><td>1</td></tr>'
    """
    text = set(text_columns)
    return "".join(
        "<tr>"
        + "".join(
            f'<td class="text">{escape(c)}</td>' if i in text else f"<td>{escape(c)}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
        for cells in rows
    )


def html_table(
    df: pd.DataFrame,
    *,
    formats: Mapping[str, Callable[[object], str]] | None = None,
    max_rows: int = 50,
    empty: str = "Nothing to show.",
) -> str:
    """A small, escaped HTML table of a DataFrame, numbers right-aligned.

    Parameters
    ----------
    df : DataFrame
        Shown with its columns as headers (the index is not shown).
    formats : mapping, optional
        Column -> function turning one value into text; other cells use ``str``.
    max_rows : int
        Rows shown; a last line says how many more there are.
    empty : str
        Text shown when ``df`` has no rows.

    Returns
    -------
    str
        A ``<div class='rl-table'>`` holding the table (the views style that class).

    Notes
    -----
    Cells are formatted row by row: meant for the rows shown (``max_rows``), not for a
    whole book.

    Examples
    --------
    >>> html_table(pd.DataFrame({"a": [1], "b": ["x<y"]}))[:63]
    "<div class='rl-table'><table><tr><th class=num>a</th><th>b</th>"
    >>> "<td>x&lt;y</td>" in html_table(pd.DataFrame({"b": ["x<y"]}))
    True
    """
    if len(df) == 0:
        return f"<div class='rl-table'><i>{escape(empty)}</i></div>"
    formats = dict(formats or {})
    shown = df.head(max_rows)
    numeric = {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c].dtype)}

    def cell(col, value, tag):
        cls = " class='num'" if col in numeric else ""
        text = formats[col](value) if col in formats else ("" if pd.isna(value) else str(value))
        return f"<{tag}{cls}>{escape(text)}</{tag}>"

    head = "".join(
        f"<th{' class=num' if c in numeric else ''}>{escape(str(c))}</th>" for c in df.columns
    )
    body = "".join(
        "<tr>" + "".join(cell(c, v, "td") for c, v in zip(df.columns, row, strict=True)) + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    more = len(df) - len(shown)
    tail = f"<div><i>{more:,} more rows not shown.</i></div>" if more > 0 else ""
    return f"<div class='rl-table'><table><tr>{head}</tr>{body}</table>{tail}</div>"
