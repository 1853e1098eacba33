"""The quality report: one self-contained HTML page on a run's output.

Everything the page shows is inside it (CSS and a few lines of JavaScript inline, pictures
as ``data:`` URIs) and its Content-Security-Policy forbids loading anything else, so it
can be mailed, archived or opened offline and looks the same. Every piece of text that
comes from a report (video names, paths, reasons) is escaped: a video may be named
anything.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from keypoints import layout as L
from pipeline.drawing.canvas import PART_COLOURS, PART_LABELS

DEFAULT_WORST = 12
HISTOGRAM_BINS = 10
LOW_COVERAGE = 0.5  # cells below this are highlighted
LISTED_PROBLEMS = 5  # per failed video

Record = Mapping[str, Any]


@dataclass
class ReportInputs:
    """What the page is made from: the reports of a run's output, and pictures of some."""

    output_root: str
    records: list[dict[str, Any]]
    run: dict[str, Any] | None
    thumbnails: dict[int, bytes] = field(default_factory=dict)  # record index -> PNG
    worst: int = DEFAULT_WORST
    generated: str = ""


def is_ok(record: Record) -> bool:
    return record.get("status") == "ok"


def mean_coverage(record: Record) -> float:
    """The mean over the parts of the fraction of frames each was found in; -1 if failed."""
    coverage = record.get("coverage") or {}
    if not is_ok(record) or not coverage:
        return -1.0
    return float(np.mean([coverage.get(part, 0.0) for part in L.PART_NAMES]))


def worst_videos(records: list[dict[str, Any]], count: int) -> list[int]:
    """Indices of the ``count`` ok videos with the least coverage, worst first."""
    ok = [i for i, r in enumerate(records) if is_ok(r)]

    def badness(i: int) -> tuple[float, float]:
        coverage = records[i]["coverage"]
        return mean_coverage(records[i]), min(coverage.get(p, 0.0) for p in L.PART_NAMES)

    return sorted(ok, key=badness)[:count]


def sign_label(record: Record) -> str:
    return f"{record['signer']}-{record['split']}/{int(record['sign']):04d}"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def coverage_histograms(records: Iterable[Record]) -> bytes:
    """A PNG with one histogram per part: how many ok videos found it in how many frames."""
    ok = [r for r in records if is_ok(r)]
    figure = Figure(figsize=(11, 2.8), dpi=100, layout="constrained")
    axes = figure.subplots(1, len(L.PART_NAMES), sharey=True)
    bins = np.linspace(0, 1, HISTOGRAM_BINS + 1)
    for ax, part in zip(axes, L.PART_NAMES, strict=True):
        values = [r["coverage"].get(part, 0.0) for r in ok]
        colour = tuple(c / 255 for c in PART_COLOURS[part])
        ax.hist(values, bins=bins, color=colour, edgecolor="#333333")
        ax.set_title(PART_LABELS[part])
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of frames found")
    axes[0].set_ylabel("videos")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# --- HTML ----------------------------------------------------------------------------


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def percent(value: float) -> str:
    return f"{value:.0%}"


def _cell(text: str, value: Any, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<td data-value="{esc(value)}"{klass}>{esc(text)}</td>'


def _coverage_cell(record: Record, part: str | None) -> str:
    if not is_ok(record):
        return _cell("—", -1, "na")
    value = mean_coverage(record) if part is None else float(record["coverage"].get(part, 0.0))
    return _cell(percent(value), f"{value:.6f}", "low" if value < LOW_COVERAGE else "")


def _size(record: Record) -> str:
    if record.get("width") and record.get("height"):
        return f"{record['width']}x{record['height']}"
    return "—"


COLUMNS = (  # header, sort type
    ("sign", "text"), ("video", "text"), ("status", "text"), ("frames", "number"),
    ("unreadable", "number"), ("size", "text"), ("fps", "number"),
    *((f"{PART_LABELS[p]}", "number") for p in L.PART_NAMES), ("mean coverage", "number"),
)  # fmt: skip


def videos_table(records: list[dict[str, Any]]) -> str:
    head = "".join(
        f'<th data-type="{kind}" title="click to sort">{esc(name)}</th>' for name, kind in COLUMNS
    )
    rows = []
    for record in records:
        cells = [
            _cell(sign_label(record), sign_label(record)),
            _cell(record["video"], record["video"]),
            _cell(record["status"], record["status"], "" if is_ok(record) else "failed"),
            _cell(str(record.get("frames", 0)), record.get("frames", 0)),
            _cell(str(record.get("unreadable_frames", 0)), record.get("unreadable_frames", 0)),
            _cell(_size(record), (record.get("width") or 0) * (record.get("height") or 0)),
            _cell(f"{record['fps']:g}" if record.get("fps") else "—", record.get("fps") or 0),
            *(_coverage_cell(record, part) for part in L.PART_NAMES),
            _coverage_cell(record, None),
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table id="videos" class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def totals(records: list[dict[str, Any]], run: Record | None) -> str:
    ok = [r for r in records if is_ok(r)]
    signs = {(r["signer"], r["split"], r["sign"]) for r in records}
    written = {(r["signer"], r["split"], r["sign"]) for r in ok}
    items = [
        ("signs", f"{len(signs)}", f"{len(written)} with keypoints"),
        ("videos", f"{len(records)}", f"{len(ok)} ok, {len(records) - len(ok)} failed"),
        ("frames", f"{sum(r.get('frames', 0) for r in records)}",
         f"{sum(r.get('unreadable_frames', 0) for r in records)} unreadable"),
    ]  # fmt: skip
    for part in L.PART_NAMES:
        mean = float(np.mean([r["coverage"].get(part, 0.0) for r in ok])) if ok else 0.0
        items.append((PART_LABELS[part], percent(mean), "of frames, mean over ok videos"))
    if run and "seconds" in run:
        items.append(("last run", f"{run['seconds']} s", f"finished {run.get('finished', '?')}"))
    cards = "".join(
        f'<div class="card"><div class="label">{esc(label)}</div>'
        f'<div class="value">{esc(value)}</div><div class="note">{esc(note)}</div></div>'
        for label, value, note in items
    )
    return f'<div class="cards" id="totals">{cards}</div>'


def worst_section(inputs: ReportInputs) -> str:
    entries = []
    for i in worst_videos(inputs.records, inputs.worst):
        record = inputs.records[i]
        name = f"{sign_label(record)} {record['video']}"
        found = ", ".join(
            f"{PART_LABELS[p]} {percent(record['coverage'].get(p, 0.0))}" for p in L.PART_NAMES
        )
        picture = (
            f'<img src="{data_uri(inputs.thumbnails[i])}" alt="keypoints of {esc(name)}">'
            if i in inputs.thumbnails
            else '<p class="note">no preview could be drawn</p>'
        )
        entries.append(
            f'<figure class="worst"><figcaption><b>{esc(name)}</b> '
            f"<span>{esc(found)}</span></figcaption>{picture}</figure>"
        )
    if not entries:
        return "<p>No video was processed successfully.</p>"
    return "".join(entries)


def failed_section(records: list[dict[str, Any]]) -> str:
    failed = [r for r in records if not is_ok(r)]
    if not failed:
        return "<p>No video failed.</p>"
    rows = []
    for record in failed:
        problems = list(record.get("problems") or [])
        shown = "; ".join(problems[:LISTED_PROBLEMS])
        if len(problems) > LISTED_PROBLEMS:
            shown += f"; and {len(problems) - LISTED_PROBLEMS} more"
        rows.append(
            f"<tr><td>{esc(sign_label(record))}</td><td>{esc(record['video'])}</td>"
            f"<td>{esc(record.get('reason') or 'unknown')}</td>"
            f'<td class="path">{esc(record.get("source", ""))}</td><td>{esc(shown)}</td></tr>'
        )
    return (
        '<table id="failed"><thead><tr><th>sign</th><th>video</th><th>reason</th>'
        f"<th>source</th><th>problems</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _value(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "—"
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{_value(v)}</td></tr>" for k, v in value.items())
        return f'<table class="kv">{rows}</table>'
    if isinstance(value, str):
        return esc(value)
    return esc(json.dumps(value))


# run.json's fields in the order a reader wants them; others follow in their own order.
PROVENANCE_ORDER = ("started", "finished", "seconds", "signs_selected", "output", "counters",
                    "versions", "backend", "options")  # fmt: skip


def provenance(run: Record | None) -> str:
    if run is None:
        return "<p>No run.json: no run has finished writing to this output root.</p>"
    ordered = {key: run[key] for key in PROVENANCE_ORDER if key in run}
    ordered.update((key, value) for key, value in run.items() if key not in ordered)
    return f'<div id="provenance">{_value(ordered)}</div>'


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { margin-bottom: 0; } h2 { margin-top: 32px; border-bottom: 1px solid #ccc; }
.sub { color: #666; margin-top: 4px; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; }
.card .label { color: #666; } .card .value { font-size: 22px; font-weight: 600; }
.card .note { color: #888; font-size: 12px; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
#videos td[data-value] { white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; background: #eee; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
td.low { background: #fde2d8; } td.failed, td.na { color: #b00; }
td.path { font-family: monospace; font-size: 12px; word-break: break-all; }
table.kv { margin: 0; } table.kv th { background: #f4f4f4; font-weight: normal; color: #555; }
.worst { display: inline-block; margin: 0 12px 16px 0; vertical-align: top; }
.worst img { display: block; max-width: 100%; border: 1px solid #ccc; }
.worst figcaption span { color: #666; margin-left: 6px; }
img.histograms { max-width: 100%; }
"""

# Sorts a table by the clicked column (data-type on the th: number or text), using each
# cell's data-value; clicking again reverses.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  headers.forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var numeric = th.dataset.type === "number";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def render_report(inputs: ReportInputs) -> str:
    records = inputs.records
    title = f"signkps report: {inputs.output_root}"
    histograms = data_uri(coverage_histograms(records))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{esc(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>signkps report</h1>
<p class="sub">{esc(inputs.output_root)} &middot; made {esc(inputs.generated)}</p>
<h2>Totals</h2>
{totals(records, inputs.run)}
<h2>Coverage per part</h2>
<img class="histograms" src="{histograms}" alt="histograms of coverage per part">
<h2>Worst videos</h2>
<p class="sub">Up to {inputs.worst} ok videos with the least mean coverage, worst first.</p>
{worst_section(inputs)}
<h2>Failed videos</h2>
{failed_section(records)}
<h2>All videos</h2>
<p class="sub">Click a column's header to sort by it; click again to reverse.</p>
{videos_table(records)}
<h2>Provenance</h2>
{provenance(inputs.run)}
<script>{SCRIPT}</script>
</body>
</html>
"""
