"""Two small browser-side widgets (anywidget): a table whose rows are clicked, a download button.

:class:`RowTable` draws rows of text in the browser and sends back the key of the row
clicked (``selected``); :class:`DownloadButton` asks the kernel for a file when clicked and
hands the bytes to the browser as a download (nothing is written on the server). Both are
plain data on the Python side: tests set ``selected`` or call :meth:`DownloadButton.payload`
as the browser would.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import anywidget
import traitlets

__all__ = ["RowTable", "DownloadButton"]

_TABLE_ESM = """
function render({ model, el }) {
  el.classList.add("rl-rowtable");
  const draw = () => {
    const cols = model.get("columns");
    const rows = model.get("rows");
    const sel = JSON.stringify(model.get("selected"));
    el.innerHTML = "";
    if (rows.length === 0) {
      const p = document.createElement("p");
      p.className = "rl-empty";
      p.textContent = model.get("empty");
      el.appendChild(p);
      return;
    }
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const c of cols) {
      const th = document.createElement("th");
      th.textContent = c.label;
      if (c.num) th.className = "num";
      head.appendChild(th);
    }
    const body = table.createTBody();
    rows.forEach((r) => {
      const tr = body.insertRow();
      tr.className = "rl-row";
      tr.dataset.key = JSON.stringify(r._key);
      if (tr.dataset.key === sel) tr.classList.add("rl-selected");
      for (const c of cols) {
        const td = tr.insertCell();
        td.textContent = r[c.key] ?? "";
        if (c.num) td.className = "num";
      }
      tr.addEventListener("click", () => {
        model.set("selected", r._key);
        model.save_changes();
      });
    });
    el.appendChild(table);
  };
  model.on("change:rows", draw);
  model.on("change:columns", draw);
  model.on("change:selected", draw);
  draw();
}
export default { render };
"""

_TABLE_CSS = """
.rl-rowtable table {border-collapse: collapse; font-size: 13px; width: 100%;}
.rl-rowtable th {background: #eef2f7; text-align: left; padding: 3px 8px;}
.rl-rowtable td {padding: 3px 8px; border-top: 1px solid #dde3ea; vertical-align: top;}
.rl-rowtable .num {text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;}
.rl-rowtable tr.rl-row {cursor: pointer;}
.rl-rowtable tr.rl-row:hover {background: #f5f8fc;}
.rl-rowtable tr.rl-selected {background: #dbe9fb;}
.rl-rowtable .rl-empty {font-style: italic; color: #555;}
"""

_BUTTON_ESM = """
function render({ model, el }) {
  const b = document.createElement("button");
  b.className = "rl-download-button";
  b.textContent = model.get("description");
  model.on("change:description", () => { b.textContent = model.get("description"); });
  b.addEventListener("click", () => model.send({ event: "download" }));
  model.on("msg:custom", (msg) => {
    if (msg.event !== "file") return;
    const bytes = Uint8Array.from(atob(msg.data), (ch) => ch.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: msg.mime }));
    const a = document.createElement("a");
    a.href = url;
    a.download = msg.filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  el.appendChild(b);
}
export default { render };
"""

_BUTTON_CSS = """
.rl-download-button {margin: 2px 6px 2px 0; padding: 3px 10px; cursor: pointer;}
"""


class RowTable(anywidget.AnyWidget):
    """A table of text rows; clicking a row sets :attr:`selected` to that row's key.

    Attributes
    ----------
    columns : list of dict
        ``{"key": ..., "label": ..., "num": bool}`` per column, in order.
    rows : list of dict
        One dict per row: the text of each column's key, and ``_key`` (a JSON list, e.g.
        ``[program_id, customer_id]``) identifying the row.
    selected : list
        The ``_key`` of the row last clicked (``[]``: none).
    empty : str
        Shown, in words, when there are no rows.
    """

    _esm = _TABLE_ESM
    _css = _TABLE_CSS
    columns: traitlets.List = traitlets.List([]).tag(sync=True)
    rows: traitlets.List = traitlets.List([]).tag(sync=True)
    selected: traitlets.List = traitlets.List([]).tag(sync=True)
    empty = traitlets.Unicode("Nothing to show.").tag(sync=True)


class DownloadButton(anywidget.AnyWidget):
    """A button that downloads a file made, when clicked, by ``make()`` in the kernel.

    Parameters
    ----------
    make : callable
        ``make() -> (filename, mime type, bytes)``.
    description : str
        The button's text.
    """

    _esm = _BUTTON_ESM
    _css = _BUTTON_CSS
    description = traitlets.Unicode("Download").tag(sync=True)

    def __init__(self, make: Callable[[], tuple[str, str, bytes]], **kwargs):
        super().__init__(**kwargs)
        self._make = make
        self.on_msg(self._on_msg)

    def payload(self) -> dict:
        """The message the browser receives on a click (filename, mime, base64 data)."""
        name, mime, data = self._make()
        return {"event": "file", "filename": name, "mime": mime,
                "data": base64.b64encode(data).decode("ascii")}  # fmt: skip

    def _on_msg(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("event") == "download":
            self.send(self.payload())
