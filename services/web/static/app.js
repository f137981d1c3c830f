// Ingenium UI: live fragments over server-sent events, actions with the CSRF token, charts from plotly.min.js.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const live = document.getElementById("live");
  window.__ingenium = { events: [], refreshes: 0 };

  function toast(text) {
    const el = document.getElementById("toast");
    el.textContent = text; el.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  async function refresh(el) {
    const response = await fetch(el.dataset.src, { headers: { "Accept": "text/html" } });
    if (!response.ok) return;
    const before = new Set([...el.querySelectorAll("tr[data-exec],tr[data-order]")].map(r => r.dataset.exec || r.dataset.order));
    el.innerHTML = await response.text();
    if (before.size || el.querySelector("tr[data-exec],tr[data-order]")) {
      el.querySelectorAll("tr[data-exec],tr[data-order]").forEach(r => {
        if (!before.has(r.dataset.exec || r.dataset.order)) r.classList.add("flash");
      });
    }
    window.__ingenium.refreshes++;
  }

  function subscribe(channel, handlers) {
    const source = new EventSource("/api/v1/events?channel=" + encodeURIComponent(channel));
    source.onopen = () => live.classList.add("on");
    source.onerror = () => live.classList.remove("on");
    for (const [name, fn] of Object.entries(handlers)) {
      source.addEventListener(name, e => { const data = JSON.parse(e.data); window.__ingenium.events.push({ name, data }); fn(data); });
    }
    return source;
  }

  const liveEls = [...document.querySelectorAll("[data-live]")];
  const channels = new Set(liveEls.map(el => el.dataset.live));
  if (channels.has("ledger")) {
    let first = true;
    subscribe("ledger", {
      execution: d => toast(`${(d.Update || "fill").replace("_", " ")} ${String(d.Symbol || "").toUpperCase()} ${d.Quantity || ""} @ ${d.Price || ""}`),
      ledger: () => { if (first) { first = false; return; } liveEls.filter(e => e.dataset.live === "ledger").forEach(refresh); drawEquity(); },
    });
  }
  if (channels.has("components")) {
    subscribe("components", { components: () => liveEls.filter(e => e.dataset.live === "components").forEach(refresh) });
  }

  // Backtest progress.
  const progress = document.getElementById("progress");
  if (progress && !["done", "failed"].includes(progress.dataset.status)) {
    const source = subscribe("run:" + progress.dataset.run, {
      progress: d => {
        const pct = Math.round((d.progress || 0) * 1000) / 10;
        progress.querySelector(".bar").style.width = pct + "%";
        document.getElementById("progress-label").textContent = pct + "%";
        document.getElementById("run-status").textContent = d.status;
        if (d.status === "done" || d.status === "failed") { source.close(); setTimeout(() => location.reload(), 300); }
      },
    });
  }

  // Actions: forms marked data-action post with fetch and the CSRF header, and show the answer.
  document.querySelectorAll("form[data-action]").forEach(form => form.addEventListener("submit", async e => {
    e.preventDefault();
    const response = await fetch(form.action, { method: "POST", headers: { "X-CSRF-Token": csrf } });
    const body = await response.json().catch(() => ({}));
    toast(response.ok ? (form.dataset.done || "done") : (body.detail || response.statusText));
  }));
  document.querySelectorAll("[data-autosubmit]").forEach(el => el.addEventListener("change", () => el.form.submit()));

  // Strategy parameters follow the chosen strategy.
  const strategy = document.getElementById("strategy");
  if (strategy) {
    const show = () => document.querySelectorAll("fieldset.params").forEach(f => {
      f.hidden = f.dataset.for !== strategy.value;
      f.querySelectorAll("input").forEach(i => { i.disabled = f.hidden; });
    });
    strategy.addEventListener("change", show); show();
  }

  // Charts.
  const layout = (extra) => Object.assign({ margin: { l: 76, r: 16, t: 8, b: 36 }, font: { family: "system-ui, sans-serif", size: 12 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fff", showlegend: false, hovermode: "x unified",
    xaxis: { gridcolor: "#eef1f5" }, yaxis: { gridcolor: "#eef1f5", tickformat: ",.2f" } }, extra || {});
  const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage", "lasso2d", "select2d"] };

  async function drawEquity() {
    const el = document.getElementById("equity-chart");
    if (!el || !window.Plotly) return;
    const points = await (await fetch(el.dataset.equity)).json();
    const start = Number(el.dataset.start || 0);
    const x = points.map(p => p.executed_at), eq = points.map(p => start + Number(p.pnl));
    const dd = points.map(p => (Number(p.pnl) - Number(p.peak)));
    Plotly.react(el, [
      { x, y: eq, type: "scatter", mode: "lines", name: "equity", line: { color: "#1f5fd1", width: 1.6 } },
      { x, y: dd, type: "scatter", mode: "lines", name: "drawdown", fill: "tozeroy", line: { color: "#c2271d", width: 1 }, yaxis: "y2" },
    ], layout({ grid: { rows: 2, columns: 1, pattern: "independent", roworder: "top to bottom" },
      yaxis: { domain: [0.35, 1], gridcolor: "#eef1f5", tickformat: ",.2f" }, yaxis2: { domain: [0, 0.28], gridcolor: "#eef1f5", tickformat: ",.2f" },
      xaxis2: { matches: "x" } }), config);
  }
  drawEquity();

  async function drawRun() {
    const data = document.getElementById("run-data");
    if (!data || !window.Plotly) return;
    const id = JSON.parse(data.textContent).run_id;
    const run = await (await fetch("/api/v1/runs/" + id)).json();
    const x = run.equity.map(p => p.at);
    Plotly.newPlot("run-equity", [
      { x, y: run.equity.map(p => Number(p.equity)), type: "scatter", mode: "lines", name: "equity", line: { color: "#1f5fd1", width: 1.6 } },
      { x, y: run.equity.map(p => Number(p.drawdown) * 100), type: "scatter", mode: "lines", name: "drawdown %", fill: "tozeroy", line: { color: "#c2271d", width: 1 }, xaxis: "x2", yaxis: "y2" },
    ], layout({ grid: { rows: 2, columns: 1, roworder: "top to bottom" }, yaxis: { domain: [0.35, 1], tickformat: ",.0f", gridcolor: "#eef1f5" },
      yaxis2: { domain: [0, 0.28], ticksuffix: "%", gridcolor: "#eef1f5" }, xaxis2: { matches: "x" } }), config);
    const trades = run.trades;
    Plotly.newPlot("run-trades-chart", [{ x: trades.map(t => t.seq + 1), y: trades.map(t => Number(t.pnl)), type: "bar",
      marker: { color: trades.map(t => Number(t.pnl) >= 0 ? "#11803d" : "#c2271d") }, hovertemplate: "trade %{x}: %{y:,.2f}<extra></extra>" }],
      layout({ hovermode: "closest" }), config);
    const c = await (await fetch("/api/v1/runs/" + id + "/candles")).json();
    const fills = run.fills.filter(f => f.symbol === c.symbol);
    const marker = side => ({ x: fills.filter(f => f.side === side).map(f => f.executed_at), y: fills.filter(f => f.side === side).map(f => Number(f.price)),
      type: "scatter", mode: "markers", name: side, marker: { symbol: side === "buy" ? "triangle-up" : "triangle-down", size: 10, color: side === "buy" ? "#11803d" : "#c2271d", line: { width: 1, color: "#fff" } },
      hovertemplate: side + " %{y:,.4f}<extra></extra>" });
    Plotly.newPlot("run-candles", [
      { x: c.time, open: c.open.map(Number), high: c.high.map(Number), low: c.low.map(Number), close: c.close.map(Number), type: "candlestick", name: c.symbol,
        increasing: { line: { color: "#11803d" } }, decreasing: { line: { color: "#c2271d" } } },
      marker("buy"), marker("sell"),
    ], layout({ xaxis: { rangeslider: { visible: false }, gridcolor: "#eef1f5" }, hovermode: "closest" }), config);
  }
  drawRun();
})();
