"""The findings report a person looks at: one self-contained HTML page (inline SVG charts), Markdown or JSON.

``report_data`` turns a run into plain data; the renderers only lay it out. The HTML has no scripts and
no external assets, so it opens anywhere (mail attachment, CI artefact) and draws the same everywhere.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

import numpy as np

from enricher.findings.engine import FindingsRunReport

TOP = 10
WIDTH, HEIGHT, PAD = 760, 220, 40
COLOURS = {"documents": "#4e79a7", "anomalies": "#e15759", "errors": "#f28e2b", "spike": "#e15759",
           "drop": "#76b7b2", "silence": "#59a14f", "new_template_burst": "#b07aa1", "error_rate": "#f28e2b"}


def report_data(report: FindingsRunReport) -> dict[str, Any]:
    counts = report.counts
    assert counts is not None, "the run's counts are needed for a report"
    grid = counts.grid
    window = slice(grid.baseline, grid.size)
    anomalous = sorted(((tid, counts.window_sum(s)) for tid, s in counts.template_anomalies.items()),
                       key=lambda item: -item[1])
    return {
        "summary": report.summary(),
        "bucket_seconds": int(grid.bucket.total_seconds()),
        "series": {
            "times": [grid.time(i).isoformat() for i in range(grid.baseline, grid.size)],
            "documents": counts.total(counts.templates)[window].astype(int).tolist(),
            "anomalies": counts.total(counts.template_anomalies)[window].astype(int).tolist(),
            "errors": counts.total(counts.template_errors)[window].astype(int).tolist(),
        },
        "top_anomalous_templates": [{"id": tid, "text": counts.texts.get(tid, ""), "anomalies": int(n)}
                                    for tid, n in anomalous[:TOP] if n > 0],
        "labels": dict(sorted(counts.labels.items(), key=lambda item: -item[1])),
        "novel_templates": [{"id": tid, "text": counts.texts.get(tid, ""), "first_seen": when.isoformat(),
                             "documents": int(counts.window_sum(counts.templates.get(tid, np.zeros(1))))}
                            for tid, when in sorted(counts.novel.items(), key=lambda item: item[1])],
        "model_versions": counts.model_versions,
        "findings": report.findings,
        "incidents": report.incidents,
    }


def render(data: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(data, indent=2, default=str)
    return render_markdown(data) if output_format == "markdown" else render_html(data)


# -- HTML -------------------------------------------------------------------------------------------
def render_html(data: dict[str, Any]) -> str:
    summary = data["summary"]
    series = data["series"]
    parts = [
        f"<h1>Log findings {escape(_short(summary['start']))} &ndash; {escape(_short(summary['end']))}</h1>",
        _table(["", ""], [["documents", summary["documents"]], ["anomalies", summary["anomalies"]],
                          ["findings", f"{summary['findings']} {json.dumps(summary['by_type'])}"],
                          ["incidents", summary["incidents"]]]),
        "<h2>Documents and anomalies over time</h2>",
        line_chart(series["times"], {k: series[k] for k in ("documents", "errors", "anomalies")}),
        "<h2>Findings on a timeline</h2>",
        timeline(data["findings"], summary["start"], summary["end"]),
        "<div class='row'><div><h2>Top anomalous templates</h2>",
        bar_chart([(t["text"] or t["id"], t["anomalies"]) for t in data["top_anomalous_templates"]], "#e15759"),
        "</div><div><h2>Label mix</h2>",
        bar_chart(list(data["labels"].items()), "#4e79a7"),
        "</div></div>",
        "<h2>Novel templates</h2>",
        _table(["first seen", "documents", "template"],
               [[_short(t["first_seen"]), t["documents"], t["text"] or t["id"]] for t in data["novel_templates"]]),
        f"<h2>Incidents ({len(data['incidents'])})</h2>",
        *(_incident_html(i, n) for n, i in enumerate(data["incidents"], 1)),
        "<h2>All findings</h2>",
        _table(["onset", "end", "type", "subject", "observed", "expected", "score"],
               [[_short(f["onset"]), _short(f["window"]["end"]), f["type"], _subject(f), f"{f['observed']:.0f}",
                 f"{f['expected']:.0f}", f"{f['score']:.1f}"] for f in data["findings"]]),
        f"<p class='meta'>models: {escape(', '.join(data['model_versions']))}</p>",
    ]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Log findings</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")


_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f4f4f4}
.row{display:flex;gap:24px;flex-wrap:wrap}.incident{border:1px solid #ccc;border-radius:6px;padding:8px 14px;margin:12px 0}
.meta{color:#777;font-size:12px}svg text{font-size:11px;fill:#444}code{font-size:12px}"""


def line_chart(times: list[str], lines: dict[str, list[int]]) -> str:
    """Lines over the window's buckets, one per series, with a legend and the time axis."""
    if not times:
        return "<p>no buckets</p>"
    peak = max([1] + [max(values) for values in lines.values() if values])
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(len(times) - 1, 1)
    out = [_svg_open(WIDTH, HEIGHT), _axes(inner_w, inner_h, peak)]
    for name, values in lines.items():
        points = " ".join(f"{PAD + i * step:.1f},{PAD + inner_h - v / peak * inner_h:.1f}" for i, v in enumerate(values))
        out.append(f"<polyline class='series' data-series='{name}' fill='none' stroke='{COLOURS[name]}' "
                   f"stroke-width='2' points='{points}'/>")
    for i in range(0, len(times), max(1, len(times) // 6)):
        out.append(f"<text x='{PAD + i * step:.1f}' y='{HEIGHT - 12}' text-anchor='middle'>{escape(_hhmm(times[i]))}</text>")
    for k, name in enumerate(lines):
        out.append(f"<rect x='{PAD + k * 110}' y='6' width='12' height='12' fill='{COLOURS[name]}'/>"
                   f"<text x='{PAD + k * 110 + 16}' y='16'>{name}</text>")
    out.append("</svg>")
    return "".join(out)


def bar_chart(items: list[tuple[str, float]], colour: str) -> str:
    """Horizontal bars, largest first, labelled."""
    if not items:
        return "<p>none</p>"
    width, row = 520, 22
    peak = max(value for _, value in items) or 1
    out = [_svg_open(width, row * len(items) + 10)]
    for i, (label, value) in enumerate(items):
        bar = (width - 290) * value / peak
        out.append(f"<rect class='bar' x='250' y='{i * row + 4}' width='{bar:.1f}' height='{row - 6}' fill='{colour}'/>"
                   f"<text x='246' y='{i * row + 18}' text-anchor='end'>{escape(_clip(str(label), 40))}</text>"
                   f"<text x='{254 + bar:.1f}' y='{i * row + 18}'>{value:.0f}</text>")
    out.append("</svg>")
    return "".join(out)


def timeline(findings: list[dict[str, Any]], start: str, end: str) -> str:
    """One row per finding type; each finding a bar from onset to end."""
    if not findings:
        return "<p>no findings in this window</p>"
    t0, t1 = datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(end).timestamp()
    types = sorted({f["type"] for f in findings})
    row, inner_w = 26, WIDTH - PAD - 150
    out = [_svg_open(WIDTH, row * len(types) + 30)]
    for i, kind in enumerate(types):
        out.append(f"<text x='4' y='{i * row + 18}'>{kind}</text>")
        out.append(f"<line x1='150' x2='{WIDTH - PAD}' y1='{i * row + 14}' y2='{i * row + 14}' stroke='#eee'/>")
    for f in findings:
        a = (datetime.fromisoformat(f["onset"]).timestamp() - t0) / max(t1 - t0, 1)
        b = (datetime.fromisoformat(f["window"]["end"]).timestamp() - t0) / max(t1 - t0, 1)
        y = types.index(f["type"]) * row + 5
        out.append(f"<rect class='finding' x='{150 + a * inner_w:.1f}' y='{y}' width='{max(3.0, (b - a) * inner_w):.1f}' "
                   f"height='{row - 8}' fill='{COLOURS.get(f['type'], '#999')}'><title>{escape(f['summary'])}</title></rect>")
    out.append(f"<text x='150' y='{row * len(types) + 22}'>{escape(_hhmm(start))}</text>"
               f"<text x='{WIDTH - PAD}' y='{row * len(types) + 22}' text-anchor='end'>{escape(_hhmm(end))}</text></svg>")
    return "".join(out)


def _incident_html(incident: dict[str, Any], number: int) -> str:
    causes = _table(["#", "kind", "candidate", "score", "evidence", "documents"], [
        [c["rank"], c["kind"], c["label"], f"{c['score']:.2f}", "; ".join(c["reasons"][:2]),
         f"{len(c['doc_ids'])} ids &middot; <a href='{escape(c['url'])}'>open in Dashboards</a>"]
        for c in incident["causes"]], raw_last=True)
    ids = ", ".join(incident["doc_ids"][:10])
    return (f"<div class='incident'><h3>Incident {number}: {escape(_short(incident['window']['start']))} &ndash; "
            f"{escape(_short(incident['window']['end']))}</h3><p>{escape(incident['summary'])}</p>"
            f"<p><b>Key terms:</b> {escape(', '.join(incident['key_terms']) or '-')}</p>{causes}"
            f"<p class='meta'>evidence: {incident['evidence_count']} documents; first ids: {escape(ids)}<br>"
            f"query: <code>{escape(incident['dashboards']['query'])}</code> "
            f"(<a href='{escape(incident['dashboards']['url'])}'>open</a>)</p></div>")


def _table(header: list[str], rows: list[list[Any]], raw_last: bool = False) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = [escape(str(v)) for v in row[:-1]] + [str(row[-1]) if raw_last else escape(str(row[-1]))]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _svg_open(width: int, height: int) -> str:
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"


def _axes(inner_w: float, inner_h: float, peak: float) -> str:
    return (f"<line x1='{PAD}' y1='{PAD + inner_h}' x2='{PAD + inner_w}' y2='{PAD + inner_h}' stroke='#999'/>"
            f"<line x1='{PAD}' y1='{PAD}' x2='{PAD}' y2='{PAD + inner_h}' stroke='#999'/>"
            f"<text x='{PAD - 4}' y='{PAD + 4}' text-anchor='end'>{peak:.0f}</text>"
            f"<text x='{PAD - 4}' y='{PAD + inner_h}' text-anchor='end'>0</text>")


# -- Markdown ---------------------------------------------------------------------------------------
def render_markdown(data: dict[str, Any]) -> str:
    summary = data["summary"]
    lines = [f"# Log findings {_short(summary['start'])} - {_short(summary['end'])}", "",
             f"{summary['documents']} documents, {summary['anomalies']} anomalies, {summary['findings']} findings "
             f"{json.dumps(summary['by_type'])}, {summary['incidents']} incidents.", ""]
    for number, incident in enumerate(data["incidents"], 1):
        lines += [f"## Incident {number}: {_short(incident['window']['start'])} - {_short(incident['window']['end'])}",
                  "", incident["summary"], "", f"Key terms: {', '.join(incident['key_terms']) or '-'}", "",
                  "| # | kind | candidate | score | evidence |", "|---|---|---|---|---|"]
        lines += [f"| {c['rank']} | {c['kind']} | {_md(c['label'])} | {c['score']:.2f} | {_md('; '.join(c['reasons'][:2]))} |"
                  for c in incident["causes"]]
        lines += ["", f"Evidence: {incident['evidence_count']} documents, first: {', '.join(incident['doc_ids'][:5])}",
                  f"Dashboards: [{_md(incident['dashboards']['query'])}]({incident['dashboards']['url']})", ""]
    lines += ["## Findings", "", "| onset | type | subject | observed | expected | score |", "|---|---|---|---|---|---|"]
    lines += [f"| {_short(f['onset'])} | {f['type']} | {_md(_subject(f))} | {f['observed']:.0f} | {f['expected']:.0f} | "
              f"{f['score']:.1f} |" for f in data["findings"]]
    lines += ["", "## Top anomalous templates", "", "| anomalies | template |", "|---|---|"]
    lines += [f"| {t['anomalies']} | {_md(t['text'] or t['id'])} |" for t in data["top_anomalous_templates"]]
    lines += ["", "## Label mix", "", "| label | documents |", "|---|---|"]
    lines += [f"| {label} | {n} |" for label, n in data["labels"].items()]
    lines += ["", "## Novel templates", "", "| first seen | documents | template |", "|---|---|---|"]
    lines += [f"| {_short(t['first_seen'])} | {t['documents']} | {_md(t['text'] or t['id'])} |" for t in data["novel_templates"]]
    return "\n".join(lines) + "\n"


def _subject(finding: dict[str, Any]) -> str:
    if finding.get("template"):
        return finding["template"].get("text") or finding["template"]["id"]
    if finding.get("source"):
        return f"{finding['source']['field']}={finding['source']['value']}"
    return "all documents"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _hhmm(iso: str) -> str:
    return iso[11:16]


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
