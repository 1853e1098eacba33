"""The quality report: one self-contained HTML page on a run's output.

Everything the page shows is inside it (CSS and a few lines of JavaScript inline, pictures
as ``data:`` URIs) and its Content-Security-Policy forbids loading anything else, so it
can be mailed, archived or opened offline and looks the same.

The page's markup, CSS and script are the Jinja2 template ``templates/report.html``; this
module only works out what goes into it. Escaping is the template engine's: it autoescapes
every value, and nothing here marks text as safe, because a video may be named anything
and reports and run.json carry whatever paths and messages a run met.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import jinja2
import numpy as np
from matplotlib.figure import Figure

from keypoints import layout as L
from keypoints.corpus import SignKey
from pipeline.drawing.canvas import PART_COLOURS, PART_LABELS

DEFAULT_WORST = 12
HISTOGRAM_BINS = 10
LOW_COVERAGE = 0.5  # cells below this are highlighted
LISTED_PROBLEMS = 5  # per failed video
TEMPLATE = "report.html"

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
    return SignKey.from_record(record).label


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


def percent(value: float) -> str:
    return f"{value:.0%}"


# --- what the template shows -----------------------------------------------------------


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    note: str


@dataclass(frozen=True)
class Cell:
    """A cell of the videos table: the sort script orders rows by ``value``, not ``text``."""

    text: str
    value: str
    css: str = ""


@dataclass(frozen=True)
class WorstVideo:
    name: str
    found: str
    picture: str | None  # a data: URI; None when no preview could be drawn


@dataclass(frozen=True)
class FailedVideo:
    sign: str
    video: str
    reason: str
    source: str
    problems: str


# run.json as the template nests it: a table per mapping, every other value as text.
Tree: TypeAlias = "str | dict[str, Tree]"


def _cell(text: str, value: Any, css: str = "") -> Cell:
    return Cell(text, str(value), css)


def _coverage_cell(record: Record, part: str | None) -> Cell:
    if not is_ok(record):
        return _cell("—", -1, "na")
    value = mean_coverage(record) if part is None else float(record["coverage"].get(part, 0.0))
    return _cell(percent(value), f"{value:.6f}", "low" if value < LOW_COVERAGE else "")


def _size(record: Record) -> str:
    if record.get("width") and record.get("height"):
        return f"{record['width']}x{record['height']}"
    return "—"


COLUMNS = (  # header, sort type
    ("sign", "text"),
    ("video", "text"),
    ("status", "text"),
    ("frames", "number"),
    ("unreadable", "number"),
    ("size", "text"),
    ("fps", "number"),
    *((f"{PART_LABELS[p]}", "number") for p in L.PART_NAMES),
    ("mean coverage", "number"),
)


def video_rows(records: list[dict[str, Any]]) -> list[list[Cell]]:
    """One row per video, its cells in the order of ``COLUMNS``."""
    return [
        [
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
        for record in records
    ]


def totals(records: list[dict[str, Any]], run: Record | None) -> list[Card]:
    ok = [r for r in records if is_ok(r)]
    signs = {(r["signer"], r["split"], r["sign"]) for r in records}
    written = {(r["signer"], r["split"], r["sign"]) for r in ok}
    cards = [
        Card("signs", f"{len(signs)}", f"{len(written)} with keypoints"),
        Card("videos", f"{len(records)}", f"{len(ok)} ok, {len(records) - len(ok)} failed"),
        Card(
            "frames",
            f"{sum(r.get('frames', 0) for r in records)}",
            f"{sum(r.get('unreadable_frames', 0) for r in records)} unreadable",
        ),
    ]
    for part in L.PART_NAMES:
        mean = float(np.mean([r["coverage"].get(part, 0.0) for r in ok])) if ok else 0.0
        cards.append(Card(PART_LABELS[part], percent(mean), "of frames, mean over ok videos"))
    if run and "seconds" in run:
        cards.append(
            Card("last run", f"{run['seconds']} s", f"finished {run.get('finished', '?')}")
        )
    return cards


def worst_section(inputs: ReportInputs) -> list[WorstVideo]:
    """The worst ok videos with their previews; empty when no video was processed."""
    entries = []
    for i in worst_videos(inputs.records, inputs.worst):
        record = inputs.records[i]
        found = ", ".join(
            f"{PART_LABELS[p]} {percent(record['coverage'].get(p, 0.0))}" for p in L.PART_NAMES
        )
        picture = data_uri(inputs.thumbnails[i]) if i in inputs.thumbnails else None
        entries.append(WorstVideo(f"{sign_label(record)} {record['video']}", found, picture))
    return entries


def failed_section(records: list[dict[str, Any]]) -> list[FailedVideo]:
    """The failed videos, each with its first few problems so that a long list stays short."""
    failed = []
    for record in records:
        if is_ok(record):
            continue
        problems = list(record.get("problems") or [])
        shown = "; ".join(problems[:LISTED_PROBLEMS])
        if len(problems) > LISTED_PROBLEMS:
            shown += f"; and {len(problems) - LISTED_PROBLEMS} more"
        failed.append(
            FailedVideo(
                sign=sign_label(record),
                video=str(record["video"]),
                reason=str(record.get("reason") or "unknown"),
                source=str(record.get("source", "")),
                problems=shown,
            )
        )
    return failed


def _tree(value: Any) -> Tree:
    if isinstance(value, dict):
        return {str(k): _tree(v) for k, v in value.items()} if value else "—"
    if isinstance(value, str):
        return value
    return json.dumps(value)


# run.json's fields in the order a reader wants them; others follow in their own order.
PROVENANCE_ORDER = (
    "started",
    "finished",
    "seconds",
    "signs_selected",
    "output",
    "counters",
    "workers",
    "versions",
    "backend",
    "options",
)


def provenance(run: Record | None) -> Tree | None:
    """run.json as nested tables, its best-known fields first; None when there is none."""
    if run is None:
        return None
    ordered = {key: run[key] for key in PROVENANCE_ORDER if key in run}
    ordered.update((key, value) for key, value in run.items() if key not in ordered)
    return _tree(ordered)


@functools.cache
def environment() -> jinja2.Environment:
    """Built once: parsing and compiling the template is the slow part of rendering it."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.drawing", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(inputs: ReportInputs) -> str:
    records = inputs.records
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            output_root=inputs.output_root,
            generated=inputs.generated,
            worst=inputs.worst,
            totals=totals(records, inputs.run),
            histograms=data_uri(coverage_histograms(records)),
            worst_videos=worst_section(inputs),
            failed=failed_section(records),
            columns=COLUMNS,
            rows=video_rows(records),
            provenance=provenance(inputs.run),
        )
    )
