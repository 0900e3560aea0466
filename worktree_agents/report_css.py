"""The report page's stylesheet, inlined into the page: system fonts only, nothing fetched."""

from __future__ import annotations

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #1f2328; background: #f6f7f9; margin: 0; padding: 20px 28px 40px; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 0 0 8px; }
section, header { background: #fff; border: 1px solid #d8dce1; border-radius: 10px;
  padding: 16px 18px; margin: 0 0 18px; }
.figures { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 12px; }
.figures div { background: #f1f3f6; border-radius: 8px; padding: 6px 12px; min-width: 70px; }
.figures span { display: block; font-size: 11px; color: #59636e; text-transform: uppercase;
  letter-spacing: .04em; }
.figures b { font-size: 16px; }
.figures .bad { background: #fde8e8; color: #b42318; }
pre { font: 12.5px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  margin: 0; white-space: pre-wrap; }
pre.summary { background: #f6f8fa; border-radius: 8px; padding: 10px 12px; }
.scroll { overflow-x: auto; }
.note { color: #59636e; margin: 4px 0 10px; font-size: 13px; }
.legend { list-style: none; padding: 0; margin: 0 0 6px; display: flex; flex-wrap: wrap;
  gap: 14px; font-size: 13px; }
.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { width: 14px; height: 14px; border-radius: 3px; display: inline-block;
  border: 1px solid rgba(0,0,0,.15); }
.crit-key { display: inline-block; width: 22px; height: 0; border-top: 3px solid #1f2328;
  vertical-align: middle; margin-right: 4px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
svg.dag .edge { fill: none; stroke: #a4abb4; stroke-width: 1.6; }
svg.dag .edge.critical { stroke: #1f2328; stroke-width: 3; }
svg.dag .node rect { stroke: rgba(0,0,0,.18); stroke-width: 1; }
svg.dag .node.critical rect { stroke: #1f2328; stroke-width: 3; }
svg.dag .name { font-size: 13px; font-weight: 600; }
svg.dag .sub { font-size: 11.5px; opacity: .92; }
svg.gantt { width: 100%; height: auto; }  /* its viewBox scales it to the card: no scrollbar */
svg.gantt .grid { stroke: #e3e6ea; stroke-width: 1; }
svg.gantt .tick { font-size: 11px; fill: #59636e; text-anchor: middle; }
svg.gantt .label { font-size: 12.5px; fill: #1f2328; }
svg.gantt .label.critical { font-weight: 700; }
svg.gantt .slot { font-size: 11px; fill: #8c939d; text-anchor: end; }
svg.gantt .stripe { fill: #f3f5f8; fill-opacity: .7; }
svg.gantt .slots { fill: #cfe0fb; stroke: #3b7ddd; stroke-width: 1.2; }
svg.gantt .full { stroke: #8c939d; stroke-dasharray: 3 3; }
svg.gantt .attempt .bar { stroke: #8c939d; stroke-width: .8; }
svg.gantt .attempt.failed .bar, svg.gantt .attempt.retried .bar { stroke: #d64545;
  stroke-width: 1.6; }
svg.gantt .mark { font-size: 13px; font-weight: 700; }
svg.gantt .wait line { stroke: #8c939d; stroke-width: 1.5; stroke-dasharray: 4 3; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-size: 12px; color: #59636e; text-transform: uppercase;
  letter-spacing: .04em; border-bottom: 2px solid #d8dce1; padding: 6px 8px; }
td { border-bottom: 1px solid #eceef1; padding: 6px 8px; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.title { color: #59636e; font-size: 12.5px; }
.pill { border-radius: 999px; padding: 1px 9px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.ins { color: #1a7f37; } .del { color: #cf222e; }
tr.details td { background: #fff6f6; border-left: 3px solid #d64545; }
tr.details p { margin: 2px 0; }
pre.conflict { background: #fff; border: 1px solid #f0c8c8; border-radius: 6px;
  padding: 8px 10px; margin: 6px 0; }
.pair { display: flex; gap: 28px; flex-wrap: wrap; }
.pair table { width: auto; min-width: 380px; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
.barcell { width: 160px; }
.costbar { display: inline-block; height: 10px; background: #3b7ddd; border-radius: 2px; }
"""
