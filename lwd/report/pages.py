"""The text of lwd's HTML pages: a run's report.html (its answers, what each agent read, the click that shows
it) and the page of several sources (a comparison, a sweep). ``str.format`` templates: literal braces are
doubled. :mod:`lwd.report.html` fills them."""

from __future__ import annotations

__all__ = ["LISTED", "UNLISTED", "SOURCES_TEMPLATE", "RUN_TEMPLATE"]

LISTED = (
    "<p>Type to filter; click an answer (or an agent on the map) to see the posts its author read that round.</p>"
    '\n<input id="search" type="search" placeholder="filter answers, agents, rounds…">'
)
UNLISTED = (
    "<p>A network this large is not listed here answer by answer ({count} answers: responses.csv holds them all): "
    "click an agent on the agent map, or an answer's point, to see that agent's answers that round and the first "
    "{shown} posts it read.</p>"
)


_STYLE = """body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; font-size: 1.15em; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 3px 6px; vertical-align: top; text-align: left; }}
"""

SOURCES_TEMPLATE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
"""
    + "<style>\n"
    + _STYLE
    + """</style></head><body>
<h1>{name}</h1>
<p>{about}<br><small>written by lwd from the run folder</small></p>
{charts}
<h2>Sources</h2>
<table><thead><tr><th>source</th><th>seeds</th><th>which</th></tr></thead><tbody>
{rows}
</tbody></table>
</body></html>
"""
)

RUN_TEMPLATE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
"""
    + _STYLE
    + """tr:hover {{ background: #f4f4f8; cursor: pointer; }}
#lineage {{ background: #f8f8f0; border: 1px solid #ccc; padding: 0.6em 1em; display: none; }}
#search {{ width: 40%; padding: 4px; margin: 0.4em 0; }}
</style></head><body>
<h1>{name}</h1>
<p>{described}<br><small>seed {seed} · created {created} · written by lwd from the run folder</small></p>
{charts}
<h2>Every answer ({count})</h2>
{listed}
<div id="lineage"></div>
<table id="answers"><thead><tr><th>round</th><th>agent</th><th>sample</th><th>posted</th><th>answer</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<script id="lwd-data" type="application/json">{data}</script>
<script>
const lwd = JSON.parse(document.getElementById("lwd-data").textContent);
const rows = Array.from(document.querySelectorAll("#answers tbody tr"));
if (!rows.length) document.getElementById("answers").style.display = "none";
const search = document.getElementById("search");
if (search) search.addEventListener("input", (event) => {{
  const words = event.target.value.toLowerCase();
  for (const row of rows) row.style.display = row.textContent.toLowerCase().includes(words) ? "" : "none";
}});
const lineage = document.getElementById("lineage");
function show(key) {{
  const ids = lwd.reads[key] || [];
  const total = lwd.counts[key] ?? ids.length;
  lineage.replaceChildren();
  const head = document.createElement("b");
  head.textContent = "Round " + key.replace("/", ", agent ") + " read " + total + " posts" +
    (total > ids.length ? " (the first " + ids.length + " here; responses.csv has them all)" : "") + ":";
  const answers = lwd.answers[key];
  if (answers) {{
    const said = document.createElement("ul");
    for (const [sample, posted, text] of answers) {{
      const item = document.createElement("li");
      item.textContent = "sample " + sample + (posted ? " (posted)" : "") + ": " + lwd.texts[text];
      said.append(item);
    }}
    const title = document.createElement("b");
    title.textContent = "Its answers:";
    lineage.append(title, said);
  }}
  lineage.append(head);
  const list = document.createElement("ol");
  for (const id of ids) {{
    const item = document.createElement("li");
    item.textContent = "[" + id + "] " + (lwd.posts[id] || "?");
    list.append(item);
  }}
  lineage.append(list);
  lineage.style.display = "block";
  lineage.scrollIntoView({{block: "nearest"}});
}}
for (const row of rows) row.addEventListener("click", () => show(row.dataset.reads));
for (const chart of document.querySelectorAll(".plotly-graph-div")) {{
  if (!chart.on) continue;
  chart.on("plotly_click", (event) => {{
    const point = event.points[0];
    if (point && point.customdata) show(point.customdata[0] + "/" + lwd.agents[point.customdata[1]]);
  }});
}}
</script>
</body></html>
"""
)
