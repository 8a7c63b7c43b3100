// Line charts as plain SVG: a few curves per chart (training curves, live loss), with
// axes, ticks, a legend and a value read-out on hover. No library: the lab works offline
// and ships no third-party code.
(function () {
"use strict";

const PALETTE = ["#1f6fb2", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#577590", "#8a5a44"];

function niceTicks(lo, hi, count) {
  if (!isFinite(lo) || !isFinite(hi)) return [];
  if (lo === hi) { lo -= 1; hi += 1; }
  const raw = (hi - lo) / Math.max(count, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

function fmt(v) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

// series: [{name, xs: [...], ys: [...]}]; returns an <figure> element.
function lineChart(series, { title = "", xLabel = "epoch", width = 460, height = 240 } = {}) {
  const ns = "http://www.w3.org/2000/svg";
  const pad = { l: 56, r: 12, t: 12, b: 36 };
  const fig = document.createElement("figure");
  fig.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  fig.appendChild(caption);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${title}: ${series.map(s => s.name).join(", ")}`);
  fig.appendChild(svg);
  const points = series.flatMap(s => s.xs.map((x, i) => [x, s.ys[i]]))
    .filter(([x, y]) => isFinite(x) && y !== null && isFinite(y));
  if (!points.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "no values yet";
    fig.appendChild(p);
    return fig;
  }
  let [x0, x1] = [Math.min(...points.map(p => p[0])), Math.max(...points.map(p => p[0]))];
  let [y0, y1] = [Math.min(...points.map(p => p[1])), Math.max(...points.map(p => p[1]))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const margin = (y1 - y0) * 0.05;
  y0 -= margin; y1 += margin;
  const X = x => pad.l + (x - x0) / (x1 - x0) * (width - pad.l - pad.r);
  const Y = y => height - pad.b - (y - y0) / (y1 - y0) * (height - pad.t - pad.b);
  const el = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  for (const t of niceTicks(y0, y1, 4)) {
    el("line", { x1: pad.l, x2: width - pad.r, y1: Y(t), y2: Y(t), class: "grid" });
    el("text", { x: pad.l - 6, y: Y(t) + 4, "text-anchor": "end", class: "tick" }, fmt(t));
  }
  const xt = niceTicks(x0, x1, 5).filter(t => xLabel !== "epoch" || Number.isInteger(t));
  for (const t of xt) {
    el("text", { x: X(t), y: height - pad.b + 16, "text-anchor": "middle", class: "tick" }, fmt(t));
  }
  el("text", { x: (pad.l + width - pad.r) / 2, y: height - 4, "text-anchor": "middle", class: "axis" }, xLabel);
  el("line", { x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b, class: "axisline" });
  el("line", { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b, class: "axisline" });
  series.forEach((s, k) => {
    const colour = s.colour || PALETTE[k % PALETTE.length];
    const pts = s.xs.map((x, i) => [x, s.ys[i]]).filter(([x, y]) => y !== null && isFinite(y));
    if (!pts.length) return;
    el("polyline", {
      points: pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" "),
      fill: "none", stroke: colour, "stroke-width": 2, "stroke-dasharray": s.dashed ? "5 4" : "",
    });
    if (pts.length < 40) {
      for (const [x, y] of pts) el("circle", { cx: X(x), cy: Y(y), r: 2.5, fill: colour });
    }
  });
  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach((s, k) => {
    const li = document.createElement("li");
    li.innerHTML = `<span class="swatch" style="background:${s.colour || PALETTE[k % PALETTE.length]}"></span>`;
    li.appendChild(document.createTextNode(s.name));
    legend.appendChild(li);
  });
  fig.appendChild(legend);
  // hover read-out: the values of every curve at the nearest x
  const readout = el("text", { x: width - pad.r, y: pad.t + 10, "text-anchor": "end", class: "readout" }, "");
  const cursor = el("line", { y1: pad.t, y2: height - pad.b, class: "cursor", visibility: "hidden" });
  svg.addEventListener("mousemove", ev => {
    const box = svg.getBoundingClientRect();
    const x = x0 + ((ev.clientX - box.left) / box.width * width - pad.l) / (width - pad.l - pad.r) * (x1 - x0);
    const xs = [...new Set(points.map(p => p[0]))];
    const near = xs.reduce((a, b) => Math.abs(b - x) < Math.abs(a - x) ? b : a, xs[0]);
    cursor.setAttribute("x1", X(near)); cursor.setAttribute("x2", X(near));
    cursor.setAttribute("visibility", "visible");
    readout.textContent = `${xLabel} ${fmt(near)}: ` + series.map(s => {
      const i = s.xs.indexOf(near);
      return `${s.name} ${i < 0 ? "–" : fmt(s.ys[i])}`;
    }).join(" · ");
  });
  svg.addEventListener("mouseleave", () => {
    cursor.setAttribute("visibility", "hidden"); readout.textContent = "";
  });
  return fig;
}

window.glassChart = { lineChart, fmt, PALETTE };
})();
