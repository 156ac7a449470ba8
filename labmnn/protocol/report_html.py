"""The session report's HTML page, from values computed elsewhere (no numbers are computed here).

Example
-------
>>> text = render(data, figures, thumbs, overlays, photo_href)    # doctest: +SKIP
"""

from __future__ import annotations

import html

from labmnn.protocol.report_data import PageData, step_words
from labmnn.protocol.report_figures import FigureFile
from labmnn.protocol.report_photos import Overlay

KIND_WORDS = {"gradient": "gradient measurement", "load_series": "load series (validation)",
              "train": "training on the rig"}
STATUS_COLOUR = {"success": "#1a7f37", "abort": "#b35900", "fail": "#b00020", "incomplete": "#b35900"}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;
     color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:0.2em} h2{border-bottom:1px solid #ccc;padding-bottom:0.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:0.5em 0} th,td{padding:0.25em 0.8em 0.25em 0;text-align:left;vertical-align:top}
table.grid th,table.grid td{border-bottom:1px solid #e4e4e4;padding:0.25em 0.7em}
table#masses td{white-space:nowrap} table#masses td:first-child{white-space:normal;min-width:16em}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.headline{display:flex;flex-wrap:wrap;gap:0.8em;margin:0.8em 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:0.6em 0.9em;min-width:12em;max-width:19em;background:#f8fafc}
.card .value{font-size:1.5em;font-weight:600} .card .label{font-weight:600} .card .meaning{font-size:0.85em;color:#555}
.warn{color:#b00020;border-left:4px solid #b00020;padding-left:0.6em}
figure{margin:1.2em 0} figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:0.9em;color:#444}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1em}
.thumbs figure{margin:0} .overlays figure img{max-width:min(100%,820px)}
code.sha{font-size:0.78em;word-break:break-all} pre{background:#f6f8fa;padding:0.6em;overflow-x:auto}
.muted{color:#666;font-size:0.9em}
"""


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def _headline(data: PageData) -> str:
    cards = "".join(f"<div class='card'><div class='label'>{esc(f.label)}</div><div class='value'>{esc(f.value)}"
                    f"</div><div class='meaning'>{esc(f.meaning)}</div></div>" for f in data.headline)
    if not cards:
        return ""
    return f"<h2>Headline</h2><div class='headline' id='headline'>{cards}</div>"


def _svg(f: FigureFile) -> str:
    return f" <a href='{esc(f.svg)}'>[SVG]</a>" if f.svg else ""


def _figures(figs: list[FigureFile]) -> str:
    if not figs:
        return ""
    body = "".join(f"<figure><a href='{esc(f.png)}'><img src='{esc(f.png)}' alt='{esc(f.caption)}'></a>"
                   f"<figcaption>{esc(f.caption)}{_svg(f)}</figcaption></figure>"
                   for f in figs)
    return f"<h2>Figures</h2><p class='muted'>Every figure is also an SVG (vector) file for papers.</p>{body}"


def _plan(data: PageData) -> str:
    if not data.plan:
        return ""
    return (f"<h2>Loading plan</h2><p class='muted'>As shown to the operator before the first photo.</p>"
            f"<pre>{esc(chr(10).join(data.plan))}</pre>"
            + (f"<p>{esc(data.rounding_sentence)}</p>" if data.rounding_sentence else ""))


def _masses(data: PageData) -> str:
    if not data.masses:
        return ""
    rows = "".join(
        f"<tr><td>{esc(step_words(m.step))}<br><code class='muted'>{esc(m.step)}</code></td><td class='num'>{m.node}"
        f"</td><td>{esc(m.direction)}</td><td class='num'>{m.target_g:.3f}</td><td class='num'>{m.nominal_g:g}</td>"
        f"<td>{esc(m.pieces)}</td><td class='num'>{m.weighed_g:.3f}</td>"
        f"<td class='num'>{m.weighed_g - m.nominal_g:+.3f}</td></tr>" for m in data.masses)
    return ("<h2>Weighed masses</h2><p class='muted'>Planned: the exact load the computation asked for; "
            "rounded: the nearest combination of the weight set that was hung; weighed: what the balance read "
            "(the analysis uses the weighed mass).</p><table class='grid' id='masses'><tr><th>step</th><th>node</th>"
            "<th>pull</th><th>planned (g)</th><th>rounded (g)</th><th>pieces</th><th>weighed (g)</th>"
            f"<th>weighed − rounded (g)</th></tr>{rows}</table>")


def _overlays(overlays: list[Overlay]) -> str:
    if not overlays:
        return ""
    body = "".join(f"<figure><a href='{esc(o.png)}'><img src='{esc(o.png)}' alt='{esc(o.caption)}'></a>"
                   f"<figcaption>{esc(step_words(o.key))}: {esc(o.caption.split(': ', 1)[-1])}</figcaption></figure>"
                   for o in overlays)
    return ("<h2>Tracking overlays</h2><p class='muted'>Each loaded photo with the tracked joints (numbered, "
            "yellow), bonds coloured by measured elongation (red stretched, blue compressed, µm) and lost "
            f"joints as red crosses.</p><div class='overlays'>{body}</div>")


def _photos(data: PageData, thumbs: dict[str, str], href: dict[str, str]) -> str:
    if not data.photos:
        return ""
    items = []
    for p in data.photos:
        link = href.get(p.path, p.path)
        pic = (f"<a href='{esc(link)}'><img src='{esc(thumbs[p.path])}' alt='{esc(p.path)}' width='320'></a>"
               if p.path in thumbs else "<div class='muted'>(no preview: not a decodable image)</div>")
        items.append(f"<figure>{pic}<figcaption><a href='{esc(link)}'>{esc(p.path)}</a> "
                     f"({p.bytes / 1e6:.1f} MB)<br>{esc(step_words(p.key) or p.role)}<br>SHA-256 "
                     f"<code class='sha'>{esc(p.sha256)}</code></figcaption></figure>")
    return (f"<h2>Photographs</h2><p class='muted'>{len(data.photos)} raw photos; click a thumbnail for the "
            "original. The SHA-256 is the one recorded when the photo was filed.</p>"
            f"<div class='thumbs' id='photos'>{''.join(items)}</div>")


def _session(data: PageData) -> str:
    colour = STATUS_COLOUR.get(data.status, "#222")
    status = f"<b style='color:{colour}'>{esc(data.status)}</b>" + (f" ({esc(data.reason)})" if data.reason else "")
    rows = [("protocol", f"{esc(data.protocol)}: {esc(KIND_WORDS.get(data.kind, data.kind))}"),
            ("network", esc(data.network)), ("status", status), ("results set", f"<code>{esc(data.results)}</code>")]
    if data.session_warnings:
        rows.append(("logged warnings", "<ul class='warn' id='logged'>" + "".join(
            f"<li>{esc(w)}</li>" for w in data.session_warnings) + "</ul>"))
    else:
        rows.append(("logged warnings", "none"))
    rows += [(k, esc(v)) for k, v in data.timings]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<h2>Session</h2><table id='session'>{body}</table>"


def _all_values(data: PageData) -> str:
    rows = "".join(f"<tr><td><code>{esc(f.key)}</code></td><td>{esc(f.label)}</td><td class='num'>{esc(f.value)}"
                   f"</td><td class='muted'>{esc(f.meaning)}</td></tr>" for f in data.all_values)
    return ("<h2>All values</h2><details><summary>Every number of results.json with its unit and meaning"
            f"</summary><table class='grid'><tr><th>key</th><th>what</th><th>value</th><th>meaning</th></tr>{rows}"
            "</table></details>")


def render(data: PageData, figs: list[FigureFile], thumbs: dict[str, str], overlays: list[Overlay],
           photo_href: dict[str, str], extra: str = "") -> str:
    """The whole page.  ``extra`` is HTML placed after the headline (e.g. the validation table)."""
    warn = "".join(f"<p class='warn'><b>Warning:</b> {esc(w)}</p>" for w in data.warnings)
    n = len(data.session_warnings)
    if n:
        warn += (f"<p class='warn'>{n} warning{'s' if n > 1 else ''} logged while measuring: see "
                 "<a href='#session'>Session</a>.</p>")
    desc = f"<p>{esc(data.description)}</p>" if data.description else ""
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(data.name)}</title>"
            f"<style>{STYLE}</style></head><body><h1>Session {esc(data.name)}</h1>{desc}"
            f"<p>{esc(KIND_WORDS.get(data.kind, data.kind)).capitalize()} on network <b>{esc(data.network)}</b>; "
            f"status <b style='color:{STATUS_COLOUR.get(data.status, '#222')}'>{esc(data.status)}</b>.</p>"
            f"{warn}{_headline(data)}{extra}{_figures(figs)}{_plan(data)}{_masses(data)}{_overlays(overlays)}"
            f"{_photos(data, thumbs, photo_href)}{_session(data)}{_all_values(data)}</body></html>\n")
