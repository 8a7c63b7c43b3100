// The lab page: Runs, one run (curves, metrics, pictures, look inside), compare, train.
// Pages are hash routes (#/runs, #/run/NAME, #/compare/A,B, #/train) over /lab/api.
"use strict";

const { lineChart, fmt } = window.glassChart;
const main = document.getElementById("main");

// ---- talking to the server ------------------------------------------------------------
// A server started with a token is opened as http://HOST:PORT/#token=...; the token stays
// in this tab (sessionStorage) and goes with every API call.
(function keepToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("glassnet-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + "#/runs");
  }
})();

function authHeaders(extra = {}) {
  const token = sessionStorage.getItem("glassnet-token");
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

class ApiError extends Error {}

async function api(path, { method = "GET", json, form } = {}) {
  const init = { method, headers: authHeaders() };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { message: text }; }
  if (!res.ok) throw new ApiError((body && body.message) || `${res.status} ${res.statusText}`);
  return body;
}

async function imageUrl(path) {
  const res = await fetch(path, { headers: authHeaders() });
  if (!res.ok) throw new ApiError(`could not load ${path} (${res.status})`);
  return URL.createObjectURL(await res.blob());
}

// ---- small DOM helpers ---------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
}

function show(...nodes) {
  main.replaceChildren(...nodes.filter(n => n !== null && n !== undefined && n !== false));
  main.focus({ preventScroll: true });
}

function alertBox(message) {
  return h("div", { class: "alert", role: "alert" }, message);
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "–";
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function verdictOf(view) {
  const c = view.checks || {};
  if (!c.verdict) return null;
  return h("p", { class: c.trustworthy ? "verdict ok" : "verdict bad" },
    h("strong", {}, c.trustworthy ? "Faithfulness check passed: " : "Faithfulness check failed: "),
    c.verdict);
}

function viewCard(view) {
  const a = view.arrays || {};
  const hidden = a.hidden || a.hidden_forward;
  const explorer = Array.isArray(hidden) && hidden.length > 1 ? memoryExplorer(a, hidden)
    : Array.isArray(a.attention) && a.output_tokens ? attentionExplorer(a)
    : Array.isArray(a.layer0) && Array.isArray(a.input_names) ? neuronExplorer(a) : null;
  return h("article", { class: explorer ? "view wide" : "view" },
    h("h4", {}, view.title),
    h("img", { src: view.png, alt: view.title, loading: "lazy" }),
    verdictOf(view),
    h("p", { class: "how" }, view.how_to_read),
    explorer);
}

// Step through a recurrent net's memory: a slider (or the arrow keys) picks the time step;
// the bars are the units' states at that step, the gates' mean openness beside them; a
// click on a bar follows that unit over the whole sequence.
function memoryExplorer(a, hidden) {
  const T = hidden.length, U = hidden[0].length;
  const steps = a.steps || a.tokens || null;
  const order = a.unit_order || [...Array(U).keys()];
  const shownUnits = order.slice(0, Math.min(24, U));
  const gates = Object.keys(a).filter(k => k.startsWith("gate_") && Array.isArray(a[k]) && a[k].length === T);
  const slider = h("input", { type: "range", min: 0, max: T - 1, value: T - 1, class: "step-slider", "aria-label": "time step" });
  const caption = h("p", { class: "step-caption" });
  const bars = h("div", { class: "unit-bars", role: "list" });
  const gateBox = h("div", { class: "gate-bars" });
  const trace = h("div", { class: "unit-trace" });
  let unit = shownUnits[0];
  const label = t => steps ? `step ${t + 1} ('${steps[t]}')` : `step ${t + 1}`;
  function drawStep() {
    const t = +slider.value;
    const row = hidden[t];
    const scale = Math.max(1e-9, ...shownUnits.map(u => Math.abs(row[u])));
    caption.textContent = `${label(t)} of ${T}` + (Array.isArray(a.input) && a.input[t] !== undefined ? ` · input ${fmt(a.input[t])}` : "");
    bars.replaceChildren(...shownUnits.map(u => {
      const v = row[u];
      const bar = h("button", {
        type: "button", role: "listitem", class: `unit-bar${u === unit ? " picked" : ""}`,
        title: `unit ${u}: ${fmt(v)}`, "aria-label": `unit ${u}: ${fmt(v)}`,
        onclick: () => { unit = u; drawStep(); drawTrace(); },
      }, ...(() => {
        const fill = h("span", { class: v >= 0 ? "pos" : "neg", style: `height:${Math.round(Math.abs(v) / scale * 100)}%` });
        return [h("span", { class: "half up" }, v >= 0 ? fill : null), h("span", { class: "half down" }, v < 0 ? fill : null)];
      })());
      return bar;
    }));
    gateBox.replaceChildren(...gates.map(g => {
      const mean = a[g][t].reduce((x, y) => x + y, 0) / U;
      return h("div", { class: "gate" }, h("span", {}, g.slice(5)), h("meter", { min: 0, max: 1, value: Math.max(0, Math.min(1, mean)) }), h("small", {}, fmt(mean)));
    }));
  }
  function drawTrace() {
    const xs = [...Array(T).keys()].map(t => t + 1);
    const ys = hidden.map(r => r[unit]);
    const series = [{ name: `unit ${unit}`, xs, ys }];
    if (Array.isArray(a.input) && a.input.length === T) {
      // the input on the unit's scale, to see whether the unit follows it
      const top = Math.max(1e-9, ...ys.map(Math.abs)), inTop = Math.max(1e-9, ...a.input.map(Math.abs));
      series.push({ name: "input (on the unit's scale)", xs, ys: a.input.map(v => v / inTop * top), colour: "#888", dashed: true });
    }
    for (const g of gates) series.push({ name: `${g.slice(5)} gate, unit ${unit}`, xs, ys: a[g].map(r => r[unit]), dashed: true });
    trace.replaceChildren(lineChart(series, { title: `unit ${unit} across the sequence`, xLabel: "step", height: 200 }));
  }
  slider.addEventListener("input", drawStep);
  drawStep();
  drawTrace();
  return h("div", { class: "explorer" },
    h("p", { class: "muted" }, `Step through the memory: drag the slider or use the arrow keys; bars are the ${shownUnits.length} units that follow the input most closely (red positive, blue negative); click one to follow it.`),
    slider, caption, h("div", { class: "step-grid" }, bars, gateBox), trace);
}

// Pick a neuron: its value for this input, and the neurons of the layer before that fed it
// most (weight × their value), so a learner can follow one decision back to the inputs.
function neuronExplorer(a) {
  const layers = [];
  for (let i = 0; Array.isArray(a[`layer${i}`]); i++) layers.push(a[`layer${i}`]);
  const last = layers.length - 1;
  const nameOf = (c, j) => c === 0 && a.input_names && a.input_names[j] ? a.input_names[j]
    : c === last && a.output_names && a.output_names[j] ? a.output_names[j]
    : `${c === 0 ? "input" : c === last ? "output" : `hidden ${c}`} #${j}`;
  const detail = h("div", { class: "neuron-detail", "aria-live": "polite" });
  const grid = h("div", { class: "neuron-grid" });
  function pick(c, j) {
    grid.querySelectorAll(".neuron.picked").forEach(b => b.classList.remove("picked"));
    grid.querySelector(`[data-n="${c}-${j}"]`)?.classList.add("picked");
    const head = h("p", {}, h("strong", {}, nameOf(c, j)), `: ${fmt(layers[c][j])} for this input`);
    const w = a[`weights${c - 1}`];
    if (c === 0 || !Array.isArray(w)) {
      detail.replaceChildren(head, h("p", { class: "muted" }, c === 0 ? "An input feature, as the net reads it (scaled)." : "The weights into this layer are too many to send; the picture shows them."));
      return;
    }
    const bias = Array.isArray(a[`bias${c - 1}`]) ? a[`bias${c - 1}`][j] : 0;
    const parts = layers[c - 1].map((v, i) => [nameOf(c - 1, i), w[j][i] * v])
      .concat([["bias (its own offset)", bias]])
      .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1])).slice(0, 8);
    const total = layers[c - 1].reduce((sum, v, i) => sum + w[j][i] * v, bias);
    const top = Math.max(1e-9, ...parts.map(p => Math.abs(p[1])));
    detail.replaceChildren(head,
      h("p", { class: "muted" }, `What fed it most (weight × value of the layer before, and its bias; they add up to ${fmt(total)} before the ${c === last ? "output function" : "activation"}):`),
      h("div", { class: "attn-bars" }, parts.map(([label, v]) => h("div", { class: "attn" },
        h("span", { class: "attn-fill", style: `width:${Math.round(Math.abs(v) / top * 100)}%;background:${v >= 0 ? "#e8a0a8" : "#9cc3e6"}` }),
        h("span", { class: "attn-label" }, `${label} ${v >= 0 ? "+" : "−"}${fmt(Math.abs(v))}`)))));
  }
  layers.forEach((acts, c) => {
    const order = acts.map((v, j) => j).sort((x, y) => Math.abs(acts[y]) - Math.abs(acts[x])).slice(0, 16).sort((x, y) => x - y);
    const top = Math.max(1e-9, ...acts.map(Math.abs));
    grid.appendChild(h("div", { class: "neuron-column" },
      h("small", {}, c === 0 ? "inputs" : c === last ? "outputs" : `hidden ${c}`),
      order.map(j => h("button", {
        type: "button", class: "neuron", "data-n": `${c}-${j}`, title: `${nameOf(c, j)}: ${fmt(acts[j])}`,
        "aria-label": `${nameOf(c, j)}: ${fmt(acts[j])}`,
        style: `background:${acts[j] >= 0 ? `rgba(209,73,91,${Math.abs(acts[j]) / top})` : `rgba(31,111,178,${Math.abs(acts[j]) / top})`}`,
        onclick: () => pick(c, j), onfocus: () => pick(c, j),
      }))));
  });
  pick(last, layers[last].indexOf(Math.max(...layers[last])));  // the answer it gave
  return h("div", { class: "explorer" },
    h("p", { class: "muted" }, "Pick a neuron (click, or Tab through them): its value for this row and what fed it. Each layer shows its 16 strongest neurons."),
    h("div", { class: "neuron-explorer" }, grid, detail));
}

// Pick a generated token to see which source tokens it attended to.
function attentionExplorer(a) {
  const out = a.output_tokens, src = a.source_tokens || a.attention[0].map((_, i) => `#${i + 1}`);
  const detail = h("div", { class: "attention-detail", "aria-live": "polite" });
  function pick(i) {
    const row = a.attention[i];
    const best = row.indexOf(Math.max(...row));
    detail.replaceChildren(
      h("p", {}, `'${out[i]}' looked most at '${src[best]}' (${fmt(row[best])})`),
      h("div", { class: "attn-bars" }, src.map((s, j) => h("div", { class: j === best ? "attn best" : "attn" },
        h("span", { class: "attn-fill", style: `width:${Math.round(row[j] * 100)}%` }),
        h("span", { class: "attn-label" }, `${s} ${fmt(row[j])}`)))));
  }
  const buttons = out.map((tok, i) => h("button", { type: "button", class: "token", onclick: () => pick(i), onfocus: () => pick(i) }, tok));
  pick(0);
  return h("div", { class: "explorer" },
    h("p", { class: "muted" }, "Pick a generated token (click or Tab through them) to see where the decoder looked while choosing it."),
    h("div", { class: "tokens" }, buttons), detail);
}

// ---- Runs ------------------------------------------------------------------------------
const runsState = { sort: "date", desc: true, filter: "", picked: new Set() };

async function pageRuns() {
  const runs = await api("/lab/api/runs");
  const columns = [
    ["name", "Run"], ["task", "Task"], ["net", "Net"], ["data", "Data"],
    ["key_value", "Key metric"], ["date", "Date"], ["seconds", "Duration"], ["status", "Status"],
  ];
  const filter = h("input", {
    type: "search", id: "run-filter", placeholder: "filter: task, net, data, name…",
    value: runsState.filter, "aria-label": "Filter runs",
  });
  const compare = h("button", { id: "compare", type: "button" }, "Compare selected");
  const tbody = h("tbody");
  const head = h("tr", {}, h("th", { scope: "col" }, h("span", { class: "sr" }, "Pick")),
    columns.map(([key, label]) => h("th", { scope: "col", "aria-sort": runsState.sort === key ? (runsState.desc ? "descending" : "ascending") : "none" },
      h("button", { type: "button", class: "sort", onclick: () => {
        runsState.desc = runsState.sort === key ? !runsState.desc : key === "date";
        runsState.sort = key;
        fill();
        head.querySelectorAll("th").forEach((th, i) => i && th.setAttribute("aria-sort",
          columns[i - 1][0] === key ? (runsState.desc ? "descending" : "ascending") : "none"));
      } }, label))));
  function fill() {
    const words = runsState.filter.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = runs.filter(r => words.every(w =>
      [r.name, r.task, r.net, r.data, r.status].join(" ").toLowerCase().includes(w)));
    const k = runsState.sort;
    shown.sort((a, b) => {
      const [x, y] = [a[k], b[k]];
      const cmp = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
      return runsState.desc ? -cmp : cmp;
    });
    tbody.replaceChildren(...shown.map(r => h("tr", {},
      h("td", {}, h("input", {
        type: "checkbox", "aria-label": `pick ${r.name} to compare`, checked: runsState.picked.has(r.name),
        onchange: e => { e.target.checked ? runsState.picked.add(r.name) : runsState.picked.delete(r.name); updateCompare(); },
      })),
      h("td", {}, h("a", { href: `#/run/${encodeURIComponent(r.name)}` }, r.name)),
      h("td", {}, r.task || "–"), h("td", {}, r.net || "–"), h("td", { class: "data" }, r.data || "–"),
      h("td", { class: "num" }, r.key_metric ? `${fmt(r.key_value)} ` : "–", r.key_metric ? h("small", {}, r.key_metric) : null),
      h("td", {}, when(r.date)), h("td", { class: "num" }, duration(r.seconds)),
      h("td", {}, h("span", { class: `status ${r.status}` }, r.status)))));
    if (!shown.length) {
      tbody.appendChild(h("tr", {}, h("td", { colspan: columns.length + 1, class: "muted" },
        runs.length ? "No run matches the filter." : "No runs yet: train one on the Train page.")));
    }
  }
  function updateCompare() {
    compare.disabled = runsState.picked.size < 2;
    compare.textContent = `Compare selected (${runsState.picked.size})`;
  }
  filter.addEventListener("input", () => { runsState.filter = filter.value; fill(); });
  compare.addEventListener("click", () => {
    location.hash = `#/compare/${[...runsState.picked].map(encodeURIComponent).join(",")}`;
  });
  runsState.picked = new Set([...runsState.picked].filter(n => runs.some(r => r.name === n)));
  fill();
  updateCompare();
  show(
    h("h2", {}, "Runs"),
    h("div", { class: "toolbar" }, filter, compare),
    h("table", { class: "runs" }, h("thead", {}, head), tbody),
  );
}

// ---- one run --------------------------------------------------------------------------
function curveCharts(curves, runsByName) {
  // runsByName: {run: curves} to overlay several runs; a single run passes {"": curves}
  const names = Object.keys(runsByName);
  const metrics = new Set();
  for (const c of Object.values(runsByName)) {
    Object.keys(c).filter(k => k !== "epoch" && k !== "lr").forEach(k => metrics.add(k.replace(/^(train|val)_/, "")));
  }
  const charts = [];
  for (const m of [...metrics].sort((a, b) => (a !== "loss") - (b !== "loss") || a.localeCompare(b))) {
    const series = [];
    names.forEach((run, k) => {
      const c = runsByName[run];
      for (const split of ["train", "val"]) {
        const key = `${split}_${m}`;
        if (c[key]) {
          series.push({
            name: `${run ? run + " " : ""}${split}`,
            xs: c.epoch, ys: c[key], dashed: split === "train",
            colour: glassChart.PALETTE[(names.length > 1 ? k : split === "val" ? 0 : 1) % glassChart.PALETTE.length],
          });
        }
      }
    });
    if (series.length) charts.push(lineChart(series, { title: m.replace(/_/g, " ") }));
  }
  return charts;
}

function metricsTable(metricsByRun) {
  const runs = Object.keys(metricsByRun);
  const rows = new Map();
  for (const run of runs) {
    const m = metricsByRun[run] || {};
    for (const split of ["val", "test"]) {
      for (const [k, v] of Object.entries(m[split] || {})) {
        if (typeof v === "number") {
          const key = `${split} ${k.replace(/_/g, " ")}`;
          if (!rows.has(key)) rows.set(key, {});
          rows.get(key)[run] = v;
        }
      }
    }
    for (const k of ["best_epoch", "epochs_run", "train_seconds", "samples_per_second"]) {
      if (typeof m[k] === "number") {
        const key = k.replace(/_/g, " ");
        if (!rows.has(key)) rows.set(key, {});
        rows.get(key)[run] = m[k];
      }
    }
  }
  return h("table", { class: "metrics" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "metric"), runs.map(r => h("th", { scope: "col" }, r || "value")))),
    h("tbody", {}, [...rows.entries()].map(([k, vals]) =>
      h("tr", {}, h("th", { scope: "row" }, k), runs.map(r => h("td", { class: "num" }, fmt(vals[r])))))));
}

async function pageRun(name) {
  const run = await api(`/lab/api/runs/${encodeURIComponent(name)}`);
  const pictures = h("div", { class: "pictures" });
  for (const p of run.pictures) {
    const img = h("img", { alt: p.title, loading: "lazy" });
    pictures.appendChild(h("figure", {}, img, h("figcaption", {}, p.title)));
    imageUrl(`/lab/api/runs/${encodeURIComponent(name)}/pictures/${p.name}`).then(u => { img.src = u; }).catch(() => {});
  }
  const curves = curveCharts(null, { "": run.curves });
  const SHOWN = 4; // loss and the first metrics; the rest one click away
  const curveBox = curves.length > SHOWN
    ? [h("div", { class: "charts" }, curves.slice(0, SHOWN)),
       h("details", { class: "more-curves" }, h("summary", {}, `${curves.length - SHOWN} more curves`), h("div", { class: "charts" }, curves.slice(SHOWN)))]
    : [h("div", { class: "charts" }, curves)];
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/runs" }, "Runs"), " / ", name),
    h("h2", {}, name, " ", h("span", { class: `status ${run.status}` }, run.status)),
    h("p", { class: "lead" }, `${run.task} · net ${run.net} · data ${run.data} · trained ${duration(run.seconds)} · ${when(run.date)}`),
    h("section", {}, h("h3", {}, "Training curves"),
      curves.length ? curveBox : h("p", { class: "muted" }, "No epochs recorded.")),
    h("section", {}, h("h3", {}, "Final metrics"), metricsTable({ "": run.metrics })),
    lookInside(name, run),
    picturesSection(name, run, pictures),
    h("section", {}, h("h3", {}, "Configuration"),
      h("details", {}, h("summary", {}, "run.yaml as resolved (every default filled in)"),
        h("pre", { class: "config" }, JSON.stringify(run.config, null, 2)))),
  );
}

function picturesSection(name, run, pictures) {
  const status = h("p", { class: "muted", "aria-live": "polite" },
    run.pictures.length ? "" : "No pictures yet: evaluate the run to draw them.");
  const button = h("button", { type: "button", id: "evaluate" }, "Evaluate on its test split");
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "Scoring the held-out test split and drawing…";
    try {
      const out = await api(`/lab/api/runs/${encodeURIComponent(name)}/evaluate`, { method: "POST" });
      const shown = Object.entries(out.metrics).filter(([, v]) => typeof v === "number").slice(0, 6)
        .map(([k, v]) => `${k.replace(/_/g, " ")} ${fmt(v)}`).join(" · ");
      status.textContent = `Scored ${out.metrics.n ?? ""} held-out samples: ${shown}`;
      pictures.replaceChildren(...out.pictures.map(p => {
        const img = h("img", { alt: p.title, loading: "lazy" });
        imageUrl(`/lab/api/runs/${encodeURIComponent(name)}/pictures/${p.name}?t=${Date.now()}`).then(u => { img.src = u; }).catch(() => {});
        return h("figure", {}, img, h("figcaption", {}, p.title));
      }));
    } catch (e) {
      status.replaceChildren(alertBox(e.message));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { id: "pictures" }, h("h3", {}, "Evaluation and explain pictures"),
    h("div", { class: "toolbar" }, button), status, pictures);
}

function lookInside(name, run) {
  const section = h("section", { id: "look-inside" }, h("h3", {}, "Look inside"));
  if (!run.inputs) {
    section.appendChild(h("p", { class: "muted" }, "This run has no trained weights yet."));
    return section;
  }
  const netViews = h("div", { class: "views", "aria-live": "polite" });
  const netButton = h("button", { type: "button", id: "net-views" }, "Show what the net learned");
  netButton.addEventListener("click", async () => {
    netButton.disabled = true;
    netViews.replaceChildren(h("p", { class: "muted" }, "Drawing the views… (faithfulness checks retrain nothing, but take a few seconds)"));
    try {
      const out = await api(`/lab/api/runs/${encodeURIComponent(name)}/views`, { method: "POST" });
      netViews.replaceChildren(...out.views.filter(v => !v.about).map(viewCard));
    } catch (e) {
      netViews.replaceChildren(alertBox(e.message));
    } finally {
      netButton.disabled = false;
    }
  });
  const results = h("div", { class: "look-results", "aria-live": "polite" });
  let input;
  const files = run.inputs.transport === "multipart";
  if (files) {
    input = h("input", { type: "file", id: "look-files", multiple: true, "aria-label": `Files to predict and explain (${run.inputs.what})` });
  } else {
    input = h("textarea", { id: "look-json", rows: 6, spellcheck: "false", "aria-label": "The input as JSON" },
      JSON.stringify(run.inputs.example || {}, null, 1));
  }
  const go = h("button", { type: "button", id: "look-go" }, "Predict and explain");
  go.addEventListener("click", async () => {
    go.disabled = true;
    results.replaceChildren(h("p", { class: "muted" }, "Predicting and drawing…"));
    try {
      let out;
      if (files) {
        if (!input.files.length) throw new ApiError("Choose one or more files first.");
        const form = new FormData();
        for (const f of input.files) form.append("files", f);
        out = await api(`/lab/api/runs/${encodeURIComponent(name)}/look`, { method: "POST", form });
      } else {
        let body;
        try { body = JSON.parse(input.value); } catch (e) { throw new ApiError(`That is not valid JSON: ${e.message}`); }
        out = await api(`/lab/api/runs/${encodeURIComponent(name)}/look`, { method: "POST", json: body });
      }
      results.replaceChildren(predictionTable(out.predictions),
        ...out.notes.map(n => h("p", { class: "note" }, n)),
        h("div", { class: "views" }, out.views.map(viewCard)));
    } catch (e) {
      results.replaceChildren(alertBox(e.message));
    } finally {
      go.disabled = false;
    }
  });
  const mapsBox = h("div", { id: "maps", "aria-live": "polite" });
  let explore = null;
  if (files && run.inputs.family === "cnn") {
    explore = h("button", { type: "button", id: "maps-go" }, "Explore feature maps");
    explore.addEventListener("click", async () => {
      explore.disabled = true;
      mapsBox.replaceChildren(h("p", { class: "muted" }, "Running the picture through the net…"));
      try {
        if (!input.files.length) throw new ApiError("Choose an image first.");
        const form = new FormData();
        form.append("files", input.files[0]);
        const data = await api(`/lab/api/runs/${encodeURIComponent(name)}/maps`, { method: "POST", form });
        mapsBox.replaceChildren(mapsExplorer(data));
      } catch (e) {
        mapsBox.replaceChildren(alertBox(e.message));
      } finally {
        explore.disabled = false;
      }
    });
  }
  section.append(
    h("div", { class: "look-net" }, netButton, netViews),
    h("h4", {}, files ? `Send ${run.inputs.what || "files"}` : "Send an input"),
    h("p", { class: "muted" }, files ? "The prediction, and every view of it (Grad-CAM, feature maps, …) with its faithfulness check."
      : "Edit the example; the prediction and every view of it come back with their faithfulness checks."),
    h("div", { class: "look-form" }, input, go, explore),
    mapsBox,
    results,
  );
  return section;
}

// Feature maps of every conv stage for one picture. Point at (or focus and move with the
// arrow keys over) a map: the box on the input is the patch that cell saw, its receptive
// field, computed from the layers' kernels, strides and paddings.
function mapsExplorer(data) {
  const shown = 224;
  const scale = shown / data.width;
  const box = h("div", { class: "rf-box", hidden: true });
  const picture = h("div", { class: "rf-input", style: `width:${shown}px;height:${Math.round(data.height * scale)}px` },
    h("img", { src: data.input, alt: `${data.about} as the net sees it (${data.width}×${data.height} px)` }), box);
  const layerSelect = h("select", { id: "maps-layer", "aria-label": "Stage" },
    data.layers.map((l, i) => h("option", { value: i },
      `${l.name}: ${l.channels_total} channels of ${l.height}×${l.width}; a cell sees ${fmt(l.field.size)} px`)));
  const tiles = h("div", { class: "map-tiles" });
  const readout = h("p", { id: "rf-readout", class: "rf-readout" },
    "Point at a feature map: the box on the picture is the patch that cell saw.");
  const cell = { row: 0, col: 0 };
  function showCell(layer, ch) {
    const f = layer.field;
    // pixel k spans [k, k+1]; a cell centred on pixel c sees [c + 0.5 - size/2, c + 0.5 + size/2]
    const cx = f.start + cell.col * f.jump + 0.5, cy = f.start + cell.row * f.jump + 0.5;
    const x0 = Math.max(0, cx - f.size / 2), x1 = Math.min(data.width, cx + f.size / 2);
    const y0 = Math.max(0, cy - f.size / 2), y1 = Math.min(data.height, cy + f.size / 2);
    Object.assign(box.style, { left: `${x0 * scale}px`, top: `${y0 * scale}px`, width: `${(x1 - x0) * scale}px`, height: `${(y1 - y0) * scale}px` });
    box.hidden = false;
    readout.textContent = `${layer.name}, channel ${ch.index}, cell (row ${cell.row}, column ${cell.col}): ` +
      `it sees the ${fmt(x1 - x0)}×${fmt(y1 - y0)} px patch from (${fmt(x0)}, ${fmt(y0)}) to (${fmt(x1)}, ${fmt(y1)})` +
      (f.size > Math.max(data.width, data.height) ? " — more than the whole picture: deep cells see everything." : ".");
  }
  function render() {
    const layer = data.layers[+layerSelect.value];
    box.hidden = true;
    tiles.replaceChildren(...layer.channels.map(ch => {
      const img = h("img", { src: ch.png, alt: `${layer.name} channel ${ch.index}`, class: "map", tabindex: 0 });
      img.addEventListener("mousemove", ev => {
        const r = img.getBoundingClientRect();
        cell.col = Math.min(layer.width - 1, Math.floor((ev.clientX - r.left) / r.width * layer.width));
        cell.row = Math.min(layer.height - 1, Math.floor((ev.clientY - r.top) / r.height * layer.height));
        showCell(layer, ch);
      });
      img.addEventListener("focus", () => showCell(layer, ch));
      img.addEventListener("keydown", ev => {
        const move = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[ev.key];
        if (!move) return;
        ev.preventDefault();
        cell.row = Math.max(0, Math.min(layer.height - 1, cell.row + move[0]));
        cell.col = Math.max(0, Math.min(layer.width - 1, cell.col + move[1]));
        showCell(layer, ch);
      });
      return h("figure", { class: "map-tile" }, img, h("figcaption", {}, `channel ${ch.index} · mean ${fmt(ch.mean)}`));
    }));
  }
  layerSelect.addEventListener("change", render);
  render();
  return h("div", { class: "maps-explorer" },
    h("h4", {}, `Feature maps of ${data.about}`),
    h("p", { class: "muted" }, "The strongest channels of each stage (bright = strong response, one scale per stage). Early stages see small patches at full resolution; each later stage sees larger parts of the picture, more coarsely."),
    h("div", { class: "maps-grid" }, h("div", {}, picture, readout), h("div", {}, layerSelect, tiles)));
}

function predictionTable(predictions) {
  if (!predictions || !predictions.length) return h("p", { class: "muted" }, "No predictions.");
  const keys = [...new Set(predictions.flatMap(p => Object.keys(p)))].slice(0, 8);
  const cell = v => {
    if (typeof v === "number") return fmt(v);
    if (Array.isArray(v)) return v.slice(0, 12).map(x => typeof x === "number" ? fmt(x) : String(x)).join(", ") + (v.length > 12 ? " …" : "");
    if (v && typeof v === "object") {
      // {label: probability}: the likeliest first, as people read a forecast of classes
      return Object.entries(v).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0)).slice(0, 5)
        .map(([k, x]) => `${k} ${typeof x === "number" ? fmt(x) : JSON.stringify(x)}`).join(" · ");
    }
    return String(v ?? "–");
  };
  return h("table", { class: "predictions" },
    h("caption", {}, "Predictions"),
    h("thead", {}, h("tr", {}, keys.map(k => h("th", { scope: "col" }, k)))),
    h("tbody", {}, predictions.slice(0, 50).map(p => h("tr", {}, keys.map(k => h("td", {}, cell(p[k])))))));
}

// ---- compare --------------------------------------------------------------------------
async function pageCompare(names) {
  const runs = await Promise.all(names.map(n => api(`/lab/api/runs/${encodeURIComponent(n)}`)));
  const curves = {}, metrics = {};
  runs.forEach(r => { curves[r.name] = r.curves; metrics[r.name] = r.metrics; });
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/runs" }, "Runs"), " / compare"),
    h("h2", {}, `Comparing ${names.length} runs`),
    h("table", { class: "metrics" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), runs.map(r => h("th", { scope: "col" }, h("a", { href: `#/run/${encodeURIComponent(r.name)}` }, r.name))))),
      h("tbody", {}, ["task", "net", "data", "epochs"].map(k => h("tr", {}, h("th", { scope: "row" }, k), runs.map(r => h("td", {}, String(r[k] ?? "–"))))),
        differences(runs).map(([k, values]) => h("tr", { class: "differs" }, h("th", { scope: "row" }, k), values.map(v => h("td", {}, v)))))),
    h("section", {}, h("h3", {}, "Curves (dashed: training, solid: validation)"), h("div", { class: "charts" }, curveCharts(null, curves))),
    h("section", {}, h("h3", {}, "Final metrics"), metricsTable(metrics)),
  );
}

// The settings the runs do not share (learning rate, hidden sizes, seed, ...): what a
// comparison is about.
function differences(runs) {
  const flat = runs.map(r => {
    const out = {};
    for (const [section, values] of Object.entries(r.config || {})) {
      if (values && typeof values === "object" && !Array.isArray(values)) {
        for (const [k, v] of Object.entries(values)) out[k === "name" ? section : k] = JSON.stringify(v);
      } else out[section] = JSON.stringify(values);
    }
    return out;
  });
  const keys = [...new Set(flat.flatMap(Object.keys))]
    .filter(k => !["versions", "device", "data", "task"].includes(k))
    .filter(k => new Set(flat.map(f => f[k])).size > 1);
  return keys.map(k => [k, flat.map(f => f[k] === undefined ? "–" : f[k].replace(/^"|"$/g, ""))]);
}

// ---- train ----------------------------------------------------------------------------
let forms = null;
let watching = null; // the job whose events are streamed into the page

async function pageTrain() {
  forms = forms || await api("/lab/api/tasks");
  const taskSelect = h("select", { id: "task", "aria-label": "Task" },
    forms.map(f => h("option", { value: f.task }, f.task)));
  const dataBox = h("div", { class: "data-choice" });
  const netSelect = h("select", { id: "net", name: "net", "aria-label": "Net" });
  const fieldsBox = h("div", { class: "fields" });
  const errors = h("div", { id: "train-errors", "aria-live": "assertive" });
  const live = h("section", { id: "live", "aria-live": "polite" });
  const queueBox = h("section", { id: "queue" });
  let upload = null; // {id, name, columns}

  function renderTask() {
    const form = forms.find(f => f.task === taskSelect.value);
    upload = null;
    errors.replaceChildren();
    const builtin = h("select", { id: "builtin", "aria-label": "Built-in data set" },
      h("option", { value: "" }, "— or upload a file below —"),
      form.builtins.map(b => h("option", { value: b.name, title: b.about }, `${b.name}: ${b.about}`.slice(0, 110))));
    if (form.builtins.length) builtin.value = form.builtins[0].name;
    const file = h("input", { type: "file", id: "upload", accept: ".csv,.tsv,.txt,.parquet,.zip", "aria-describedby": "upload-help" });
    const uploaded = h("p", { id: "upload-status", class: "muted", "aria-live": "polite" });
    file.addEventListener("change", async () => {
      if (!file.files.length) return;
      const fd = new FormData();
      fd.append("file", file.files[0]);
      uploaded.className = "muted";
      uploaded.textContent = `Checking ${file.files[0].name}…`;
      try {
        upload = await api("/lab/api/uploads", { method: "POST", form: fd });
        builtin.value = "";
        uploaded.className = "ok";
        uploaded.textContent = `${upload.name} is readable` + (upload.columns ? `; columns: ${upload.columns.join(", ")}` : "") + ".";
        // column options (target, features, ...) now offer the file's columns
        document.getElementById("upload-columns").replaceChildren(...(upload.columns || []).map(c => h("option", { value: c })));
      } catch (e) {
        upload = null;
        uploaded.className = "";
        uploaded.replaceChildren(alertBox(e.message));
      }
    });
    builtin.addEventListener("change", () => { if (builtin.value) { upload = null; uploaded.textContent = ""; file.value = ""; } });
    dataBox.replaceChildren(
      h("label", { for: "builtin" }, "Built-in data"), builtin,
      h("label", { for: "upload" }, "Or your own file"), file,
      h("datalist", { id: "upload-columns" }),
      h("p", { id: "upload-help", class: "hint" }, "A table (.csv, .tsv, .parquet), or a folder packed as .zip (one sub-folder per class for images). The data doctor reads it at once."),
      uploaded);
    netSelect.replaceChildren(...form.nets.map(n => h("option", { value: n }, n)));
    netSelect.value = form.default_net;
    const groups = { data: "Data options", net: "Net options", train: "Training options" };
    fieldsBox.replaceChildren(...Object.entries(groups).map(([g, title]) => h("details", { open: g === "train" },
      h("summary", {}, title),
      h("div", { class: "grid" }, form.fields.filter(f => f.group === g).map(fieldInput)))));
  }

  function fieldInput(f) {
    const id = `opt-${f.name}`;
    let input;
    const placeholder = f.default === null || f.default === undefined || f.default === "" ? (f.optional ? "(none)" : "") : `${f.default}`;
    if (f.kind === "bool") {
      input = h("select", { id, name: f.name }, h("option", { value: "" }, `default (${f.default == null ? "auto" : f.default ? "yes" : "no"})`),
        h("option", { value: "true" }, "yes"), h("option", { value: "false" }, "no"));
    } else if (f.kind === "choice") {
      input = h("select", { id, name: f.name }, h("option", { value: "" }, `default (${f.default ?? "none"})`),
        f.choices.map(c => h("option", { value: c }, c)));
    } else {
      input = h("input", {
        id, name: f.name, type: "text", placeholder, list: f.kind === "text" || f.kind === "list" ? "upload-columns" : undefined,
        inputmode: f.kind === "int" || f.kind === "float" ? "decimal" : undefined,
      });
    }
    return h("div", { class: "field" },
      h("label", { for: id }, f.name.replace(/_/g, " ")),
      input,
      h("small", {}, f.help + (f.kind === "list" ? " (comma-separated)" : "")));
  }

  async function submit() {
    errors.replaceChildren();
    const form = forms.find(f => f.task === taskSelect.value);
    const options = { net: netSelect.value };
    fieldsBox.querySelectorAll("[name]").forEach(el => {
      if (el.value.trim() !== "") options[el.name] = el.value.trim();
    });
    const builtin = document.getElementById("builtin").value;
    const body = { task: form.task, options };
    if (upload) body.upload = upload.id; else if (builtin) body.builtin = builtin;
    try {
      const job = await api("/lab/api/jobs", { method: "POST", json: body });
      watch(job, live);
      refreshQueue(queueBox);
    } catch (e) {
      errors.replaceChildren(alertBox(e.message));
      errors.querySelector(".alert").focus?.();
    }
  }

  taskSelect.addEventListener("change", () => { localStorage.setItem("glassnet-task", taskSelect.value); renderTask(); });
  const remembered = localStorage.getItem("glassnet-task");
  if (remembered && forms.some(f => f.task === remembered)) taskSelect.value = remembered;
  else {
    const newest = (await api("/lab/api/runs")).sort((a, b) => b.date - a.date)[0];
    if (newest && forms.some(f => f.task === newest.task)) taskSelect.value = newest.task;
  }
  renderTask();
  const trainButton = h("button", { type: "button", id: "train-go", class: "primary" }, "Train");
  trainButton.addEventListener("click", submit);
  show(
    h("h2", {}, "Train a network"),
    h("p", { class: "lead" }, "Pick a task and data; every option of `glassnet train TASK` is below, with its default shown greyed. Leave a field empty to keep the default."),
    h("div", { class: "train-form" },
      h("div", { class: "field" }, h("label", { for: "task" }, "Task"), taskSelect),
      dataBox,
      h("div", { class: "field" }, h("label", { for: "net" }, "Net"), netSelect),
      fieldsBox,
      trainButton,
      errors),
    live,
    queueBox,
  );
  refreshQueue(queueBox);
  if (watching) watch(watching, live);
}

async function refreshQueue(box) {
  const jobs = await api("/lab/api/jobs");
  updateBadge(jobs);
  if (!box || !box.isConnected) return;
  box.replaceChildren(h("h3", {}, "Trainings this session"),
    jobs.length ? h("table", { class: "jobs" },
      h("thead", {}, h("tr", {}, ["training", "task", "data", "status", "run", ""].map(t => h("th", { scope: "col" }, t)))),
      h("tbody", {}, jobs.map(j => h("tr", {},
        h("td", {}, j.id), h("td", {}, j.task), h("td", {}, j.data),
        h("td", {}, h("span", { class: `status ${j.status}` }, j.status + (j.position ? ` (#${j.position} in queue)` : ""))),
        h("td", {}, j.run && j.status !== "running" ? h("a", { href: `#/run/${encodeURIComponent(j.run)}` }, j.run) : j.run || "–"),
        h("td", {}, ["queued", "running"].includes(j.status)
          ? h("button", { type: "button", class: "stop", onclick: async () => { await api(`/lab/api/jobs/${j.id}/stop`, { method: "POST" }); refreshQueue(box); } }, j.status === "queued" ? "Cancel" : "Stop")
          : h("button", { type: "button", onclick: () => watch(j, document.getElementById("live")) }, "Watch"))))))
      : h("p", { class: "muted" }, "None yet: one runs at a time, the others wait here."));
}

function updateBadge(jobs) {
  const running = jobs.filter(j => j.status === "running").length;
  const queued = jobs.filter(j => j.status === "queued").length;
  document.getElementById("queue-badge").textContent =
    running ? `training: ${running} running${queued ? `, ${queued} waiting` : ""}` : "";
}

async function watch(job, box) {
  watching = job;
  if (!box) return;
  const status = h("p", { id: "live-status", class: "lead" }, `${job.id}: ${job.status}`);
  const lossBox = h("div", { class: "charts" });
  const weights = h("figure", { class: "weights" }, h("img", { id: "live-weights", alt: "the first layer's weights at the latest epoch" }),
    h("figcaption", {}, "The first layer's weights, redrawn after each epoch: watch them move away from their random start."));
  const table = h("div", { id: "live-epochs" });
  const stop = h("button", { type: "button", id: "live-stop" }, "Stop (keeps a resumable checkpoint)");
  stop.addEventListener("click", () => api(`/lab/api/jobs/${job.id}/stop`, { method: "POST" }));
  box.replaceChildren(h("h3", {}, `Watching ${job.id} (${job.task} on ${job.data})`), status, stop,
    h("div", { class: "live-grid" }, lossBox, weights), table);
  const steps = { xs: [], ys: [] };
  const epochs = [];
  const redraw = () => {
    const charts = [lineChart([{ name: "training loss (every 10 steps)", ...steps }], { title: "loss while training", xLabel: "step" })];
    if (epochs.length) {
      const keys = Object.keys(epochs[0]).filter(k => /loss/.test(k));
      charts.push(lineChart(keys.map(k => ({ name: k.replace(/_/g, " "), xs: epochs.map(e => e.epoch), ys: epochs.map(e => e[k]), dashed: k.startsWith("train") })), { title: "loss per epoch" }));
    }
    lossBox.replaceChildren(...charts);
  };
  let stepCount = 0, perEpoch = null;
  const seen = watching;
  try {
    const res = await fetch(`/lab/api/jobs/${job.id}/events`, { headers: authHeaders() });
    if (!res.ok) throw new ApiError(`events: ${res.status}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || watching !== seen) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const kind = (chunk.match(/^event: (.*)$/m) || [])[1];
        const data = (chunk.match(/^data: (.*)$/m) || [])[1];
        if (!kind) continue;
        const ev = data ? JSON.parse(data) : {};
        if (kind === "queued") status.textContent = `${job.id}: waiting, #${ev.position} in the queue`;
        if (kind === "started") {
          status.textContent = `${job.id}: training${ev.streamed ? " (data streamed from disk)" : ""}`;
          perEpoch = ev.steps_per_epoch || null;
        }
        if (kind === "step") {
          stepCount = perEpoch ? (ev.epoch - 1) * perEpoch + ev.step : stepCount + 10;
          steps.xs.push(stepCount); steps.ys.push(ev.loss);
          if (steps.xs.length % 5 === 1) redraw();
        }
        if (kind === "epoch") {
          epochs.push({ epoch: ev.epoch, ...ev.metrics });
          status.textContent = `${job.id}: epoch ${ev.epoch} done` + (ev.improved ? " (best so far)" : "");
          table.replaceChildren(epochTable(epochs));
          redraw();
        }
        if (kind === "snapshot") {
          imageUrl(`/lab/api/jobs/${job.id}/weights.png?epoch=${ev.epoch}`).then(u => {
            const img = document.getElementById("live-weights"); if (img) img.src = u;
          }).catch(() => {});
        }
        if (kind === "note") box.appendChild(h("p", { class: "note" }, ev.message));
        if (kind === "finished") {
          stop.remove();
          status.replaceChildren(`${job.id}: ${ev.status}. `, h("a", { href: `#/run/${encodeURIComponent(ev.run)}`, id: "live-run" }, `Open ${ev.run}`));
        }
        if (kind === "failed") {
          stop.remove();
          status.replaceChildren(alertBox(`${job.id} failed: ${ev.error}`));
        }
        if (kind === "cancelled") { stop.remove(); status.textContent = `${job.id}: cancelled`; }
      }
    }
  } catch (e) {
    status.replaceChildren(alertBox(e.message));
  }
  redraw();
  refreshQueue(document.getElementById("queue"));
}

function epochTable(epochs) {
  const keys = Object.keys(epochs[epochs.length - 1]).filter(k => k !== "epoch" && k !== "lr").slice(0, 8);
  return h("table", { class: "metrics" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "epoch"), keys.map(k => h("th", { scope: "col" }, k.replace(/_/g, " "))))),
    h("tbody", {}, epochs.slice(-10).map(e => h("tr", {}, h("td", {}, e.epoch), keys.map(k => h("td", { class: "num" }, fmt(e[k])))))));
}

// ---- routing --------------------------------------------------------------------------
async function route() {
  const [, page, arg] = (location.hash || "#/runs").match(/^#\/([^/]*)\/?(.*)$/) || [null, "runs", ""];
  document.querySelectorAll("nav a").forEach(a => a.setAttribute("aria-current", a.dataset.page === page || (page === "run" || page === "compare") && a.dataset.page === "runs" ? "page" : "false"));
  try {
    if (page === "run") await pageRun(decodeURIComponent(arg));
    else if (page === "compare") await pageCompare(arg.split(",").map(decodeURIComponent).filter(Boolean));
    else if (page === "train") await pageTrain();
    else await pageRuns();
  } catch (e) {
    show(h("h2", {}, "Something went wrong"), alertBox(e.message), h("p", {}, h("a", { href: "#/runs" }, "Back to the runs")));
  }
}

window.addEventListener("hashchange", route);
route();
setInterval(() => api("/lab/api/jobs").then(updateBadge).catch(() => {}), 5000);
