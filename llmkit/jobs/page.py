"""The jobs page: a list of jobs with their thumbnails and states, refreshed every 2 s.

It is plain HTML and a little JavaScript over ``GET /jobs``. When the list has rendered and
every thumbnail has loaded (or failed), the page sets ``data-ready`` on ``<body>`` and
``data-loaded`` on each image, which is what the headless-browser check reads.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llmkit jobs</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse}
td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.state{font-weight:600}.done{color:#187a2f}.failed,.post_process_failed{color:#b3261e}
img{width:64px;height:64px;object-fit:cover;background:#eee}
</style></head>
<body data-ready="0">
<h1>llmkit jobs</h1>
<p id="summary">loading…</p>
<table><thead><tr><th>thumbnail</th><th>job</th><th>kind</th><th>state</th><th>attempts</th>
<th>error</th></tr></thead><tbody id="jobs"></tbody></table>
<script>
"use strict";
function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td;
}
async function refresh() {
  const resp = await fetch("/jobs?limit=200");
  const body = await resp.json();
  const rows = [];
  const waits = [];
  for (const job of body.data) {
    const tr = document.createElement("tr");
    tr.dataset.job = job.id; tr.dataset.state = job.state;
    const td = document.createElement("td");
    if (job.thumbnail) {
      const img = document.createElement("img");
      img.alt = "thumbnail of " + job.id;
      waits.push(new Promise((done) => {
        img.onload = () => { img.dataset.loaded = img.naturalWidth > 0 ? "1" : "0"; done(); };
        img.onerror = () => { img.dataset.loaded = "error"; done(); };
      }));
      img.src = "/jobs/" + job.id + "/artifacts/thumbnail";
      td.appendChild(img);
    }
    tr.appendChild(td);
    cell(tr, job.id); cell(tr, job.input.kind);
    cell(tr, job.state, "state " + job.state); cell(tr, String(job.attempts));
    cell(tr, job.error ? job.error.kind + ": " + job.error.message : "");
    rows.push(tr);
  }
  await Promise.all(waits);
  document.getElementById("jobs").replaceChildren(...rows);
  const n = body.data.length, done = body.data.filter((j) => j.state === "done").length;
  document.getElementById("summary").textContent = n + " jobs, " + done + " done";
  document.body.dataset.ready = "1";
}
refresh().catch((e) => { document.body.dataset.ready = "error"; console.error(e); });
setInterval(() => refresh().catch(() => {}), 2000);
</script></body></html>
"""
