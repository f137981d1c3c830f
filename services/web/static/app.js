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

  // What an execution says in one line: a fill's quantity and price, otherwise what happened to the order.
  function executionToast(d) {
    const what = (d.Update || "fill").replaceAll("_", " "), symbol = String(d.Symbol || "").toUpperCase();
    toast(Number(d.Quantity) > 0 ? `${what} ${symbol} ${d.Quantity} @ ${d.Price}` : `order ${what}: ${symbol}${d.Reason ? " (" + d.Reason + ")" : ""}`);
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
      execution: executionToast,
      ledger: () => { if (first) { first = false; return; } liveEls.filter(e => e.dataset.live === "ledger").forEach(refresh); drawEquity(); },
    });
  }
  if (channels.has("portfolio")) {
    let first = true;
    const again = () => { liveEls.filter(e => e.dataset.live === "portfolio").forEach(refresh); drawEquity(); };
    subscribe("portfolio", {
      execution: executionToast,
      ledger: () => { if (first) { first = false; return; } again(); },
      marks: again,
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

  // The backtest form's data source: a file (backtest or sweep) or the recorded stream (replay).
  const sources = document.querySelectorAll('input[name="source"]');
  if (sources.length) {
    const pick = () => {
      const chosen = document.querySelector('input[name="source"]:checked').value;
      sources.forEach(r => r.closest("label").classList.toggle("on", r.checked));
      document.querySelectorAll(".source-fields").forEach(f => {
        f.hidden = f.dataset.source !== chosen;
        f.querySelectorAll("input,select").forEach(i => { i.disabled = f.hidden; });
      });
    };
    sources.forEach(r => r.addEventListener("change", pick)); pick();
  }

  // Charts.
  const PALETTE = ["#1f5fd1", "#d9730d", "#2e8b57", "#8e44ad"];
  const layout = (extra) => Object.assign({ margin: { l: 76, r: 16, t: 8, b: 36 }, font: { family: "system-ui, sans-serif", size: 12 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fff", showlegend: false, hovermode: "x unified",
    xaxis: { gridcolor: "#eef1f5" }, yaxis: { gridcolor: "#eef1f5", tickformat: ",.2f" } }, extra || {});
  const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage", "lasso2d", "select2d"] };
  // A chart follows its box (a rotated phone, a narrowed window), not only window resize events.
  if (window.ResizeObserver && window.Plotly) {
    const watch = new ResizeObserver(entries => entries.forEach(e => { if (e.target.classList.contains("js-plotly-plot")) Plotly.Plots.resize(e.target); }));
    document.querySelectorAll(".chart").forEach(el => watch.observe(el));
  }

  async function drawEquity() {
    const el = document.getElementById("equity-chart");
    if (!el || !window.Plotly) return;
    const curves = await (await fetch(el.dataset.equity)).json();
    const t = curves.total;
    Plotly.react(el, [
      { x: t.time, y: t.equity.map(Number), type: "scatter", mode: "lines", name: "equity", line: { color: "#1f5fd1", width: 1.6, shape: "hv" } },
      { x: t.time, y: t.drawdown.map(v => Number(v) * 100), type: "scatter", mode: "lines", name: "drawdown", fill: "tozeroy",
        line: { color: "#c2271d", width: 1, shape: "hv" }, xaxis: "x2", yaxis: "y2", hovertemplate: "%{y:.2f}%" },
    ], layout({ xaxis: { anchor: "y", showticklabels: false, gridcolor: "#eef1f5" },
      yaxis: { domain: [0.35, 1], gridcolor: "#eef1f5", tickformat: ",.2f" }, yaxis2: { anchor: "x2", domain: [0, 0.28], gridcolor: "#eef1f5", ticksuffix: "%" },
      xaxis2: { anchor: "y2", matches: "x", gridcolor: "#eef1f5" } }), config);
    const traces = [];
    curves.strategies.forEach((c, i) => {
      const color = PALETTE[i % PALETTE.length], name = c.strategy || "(none)";
      traces.push({ x: c.time, y: c.pnl.map(Number), type: "scatter", mode: "lines", name, legendgroup: name, line: { color, width: 1.6, shape: "hv" } });
      traces.push({ x: c.time, y: c.drawdown.map(Number), type: "scatter", mode: "lines", name: name + " drawdown", legendgroup: name, showlegend: false,
        line: { color, width: 1, shape: "hv" }, xaxis: "x2", yaxis: "y2" });
    });
    Plotly.react("strategy-chart", traces, layout({ showlegend: true, legend: { orientation: "h", y: 1.1 },
      xaxis: { anchor: "y", showticklabels: false, gridcolor: "#eef1f5" },
      yaxis: { domain: [0.35, 1], gridcolor: "#eef1f5", tickformat: ",.2f" }, yaxis2: { anchor: "x2", domain: [0, 0.28], gridcolor: "#eef1f5", tickformat: ",.2f" },
      xaxis2: { anchor: "y2", matches: "x", gridcolor: "#eef1f5" } }), config);
    window.__ingenium.equity = { total: t.equity, strategies: curves.strategies.map(c => c.strategy) };
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
    ], layout({ xaxis: { anchor: "y", showticklabels: false, gridcolor: "#eef1f5" },
      yaxis: { domain: [0.35, 1], tickformat: ",.0f", gridcolor: "#eef1f5" },
      yaxis2: { anchor: "x2", domain: [0, 0.28], ticksuffix: "%", gridcolor: "#eef1f5" }, xaxis2: { anchor: "y2", matches: "x" } }), config);
    const trades = run.trades;
    Plotly.newPlot("run-trades-chart", [{ x: trades.map(t => t.seq + 1), y: trades.map(t => Number(t.pnl)), type: "bar",
      marker: { color: trades.map(t => Number(t.pnl) >= 0 ? "#11803d" : "#c2271d") }, hovertemplate: "trade %{x}: %{y:,.2f}<extra></extra>" }],
      layout({ hovermode: "closest" }), config);
    const picker = document.getElementById("candle-symbol");
    const traded = [...new Set(run.fills.map(f => f.symbol))];
    const symbols = [...new Set([...traded, ...(run.run.symbols || [])])];
    picker.innerHTML = symbols.map(s => `<option value="${s}">${s.toUpperCase()}</option>`).join("");
    picker.hidden = symbols.length < 2;
    async function candles() {
      const c = await (await fetch("/api/v1/runs/" + id + "/candles?symbol=" + encodeURIComponent(picker.value))).json();
      const fills = run.fills.filter(f => f.symbol === c.symbol);
      const marker = side => ({ x: fills.filter(f => f.side === side).map(f => f.executed_at), y: fills.filter(f => f.side === side).map(f => Number(f.price)),
        type: "scatter", mode: "markers", name: side, marker: { symbol: side === "buy" ? "triangle-up" : "triangle-down", size: 13, color: side === "buy" ? "#1f5fd1" : "#111827", line: { width: 1.5, color: "#fff" } },
        hovertemplate: side + " %{y:,.4f}<extra></extra>" });
      Plotly.react("run-candles", [
        { x: c.time, open: c.open.map(Number), high: c.high.map(Number), low: c.low.map(Number), close: c.close.map(Number), type: "candlestick", name: c.symbol.toUpperCase(),
          increasing: { line: { color: "#11803d" } }, decreasing: { line: { color: "#c2271d" } } },
        marker("buy"), marker("sell"),
      ], layout({ xaxis: { rangeslider: { visible: false }, gridcolor: "#eef1f5" }, hovermode: "closest" }), config);
    }
    picker.addEventListener("change", candles);
    await candles();
  }
  drawRun();

  document.querySelectorAll(".swatch").forEach(el => { el.style.background = PALETTE[Number(el.dataset.i) % PALETTE.length]; });

  async function drawCompare() {
    const data = document.getElementById("compare-data");
    if (!data || !window.Plotly) return;
    const ids = JSON.parse(data.textContent);
    const all = await Promise.all(ids.map(id => fetch("/api/v1/runs/" + id).then(r => r.json())));
    const align = document.getElementById("compare-align");
    // Runs over different periods only line up by bars elapsed; over the same period, by time.
    const spans = all.map(run => run.equity.length ? [run.equity[0].at, run.equity[run.equity.length - 1].at] : ["", ""]);
    const overlap = spans.every(([a, b]) => spans.every(([c, d]) => a <= d && c <= b));
    align.value = overlap ? "time" : "bars";
    function draw() {
      const byTime = align.value === "time";
      const traces = [];
      all.forEach((run, i) => {
        const color = PALETTE[i % PALETTE.length];
        const x = byTime ? run.equity.map(p => p.at) : run.equity.map((p, n) => n);
        const first = run.equity.length ? Number(run.equity[0].equity) : 1;
        traces.push({ x, y: run.equity.map(p => (Number(p.equity) / first - 1) * 100), type: "scatter", mode: "lines", name: ids[i],
          legendgroup: ids[i], line: { color, width: 1.6 }, hovertemplate: "%{y:.2f}%" });
        traces.push({ x, y: run.equity.map(p => Number(p.drawdown) * 100), type: "scatter", mode: "lines", name: ids[i] + " drawdown",
          legendgroup: ids[i], showlegend: false, line: { color, width: 1 }, xaxis: "x2", yaxis: "y2", hovertemplate: "%{y:.2f}%" });
      });
      Plotly.react("compare-equity", traces, layout({ showlegend: true, legend: { orientation: "h", y: 1.1 },
        xaxis: { anchor: "y", showticklabels: false, gridcolor: "#eef1f5" },
        yaxis: { domain: [0.35, 1], ticksuffix: "%", tickformat: ",.1f", gridcolor: "#eef1f5", title: { text: "return" } },
        yaxis2: { anchor: "x2", domain: [0, 0.28], ticksuffix: "%", gridcolor: "#eef1f5", title: { text: "drawdown" } },
        xaxis2: { anchor: "y2", matches: "x", gridcolor: "#eef1f5", title: { text: byTime ? "" : "bars since start" } } }), config);
    }
    align.addEventListener("change", draw);
    draw();
    window.__ingenium.compared = all.length;
  }
  drawCompare();

  async function drawSweep() {
    const data = document.getElementById("sweep-data");
    if (!data || !window.Plotly) return;
    const info = JSON.parse(data.textContent);
    const run = await (await fetch("/api/v1/runs/" + info.run_id)).json();
    const rows = run.run.stats.ranked;
    const metricEl = document.getElementById("heat-metric"), xEl = document.getElementById("heat-x"), yEl = document.getElementById("heat-y");
    const sortValues = vs => [...new Set(vs)].sort((a, b) => (isNaN(a) || isNaN(b)) ? String(a).localeCompare(String(b)) : Number(a) - Number(b));
    function draw() {
      const metric = metricEl.value;
      const px = xEl ? xEl.value : info.params[0], py = yEl ? yEl.value : null;
      const value = r => (r.stats && r.stats[metric] != null) ? Number(r.stats[metric]) : null;
      const xs = sortValues(rows.map(r => r.params[px]));
      let trace;
      if (py && py !== px) {
        const ys = sortValues(rows.map(r => r.params[py]));
        // Other parameters may vary too: each cell shows the best value over them.
        const z = ys.map(y => xs.map(x => {
          const vals = rows.filter(r => r.params[px] === x && r.params[py] === y).map(value).filter(v => v !== null);
          return vals.length ? Math.max(...vals) : null;
        }));
        trace = { type: "heatmap", x: xs.map(String), y: ys.map(String), z, colorscale: [[0, "#c2271d"], [0.5, "#f3efe4"], [1, "#11803d"]], hoverongaps: false,
          texttemplate: "%{z:,.3~f}", textfont: { size: 12 },
          colorbar: { title: { text: metric, side: "right" }, thickness: 12 },
          hovertemplate: px + "=%{x}<br>" + py + "=%{y}<br>" + metric + "=%{z:,.4f}<extra></extra>" };
      } else {
        trace = { type: "bar", x: xs.map(String), y: xs.map(x => Math.max(...rows.filter(r => r.params[px] === x).map(value).filter(v => v !== null))),
          marker: { color: "#1f5fd1" }, hovertemplate: px + "=%{x}: %{y:,.4f}<extra></extra>" };
      }
      Plotly.react("sweep-heatmap", [trace], layout({ hovermode: "closest", xaxis: { title: { text: px }, type: "category", gridcolor: "#eef1f5" },
        yaxis: { title: { text: py && py !== px ? py : metric }, type: py && py !== px ? "category" : "linear", gridcolor: "#eef1f5" } }), config);
      window.__ingenium.heatmap = trace.type;
    }
    [metricEl, xEl, yEl].forEach(el => el && el.addEventListener("change", draw));
    draw();
  }
  drawSweep();
})();
