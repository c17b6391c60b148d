/* tornado-bench report.html: the interactive charts (drawn with the vendored uPlot from the
   JSON in the element #bench-charts) and the sortable, filterable tables. Written out by
   analysis/report/page.py, inline, so the page stays one file that needs no network.
   Without JavaScript the page shows the PNGs (inside <noscript>) and the plain tables. */
(function () {
  "use strict";

  var PANEL_HEIGHT = 280; // CSS px of one panel's plot, axes included
  var MIN_PANEL_WIDTH = 300; // below this, fewer panels a row
  var NEAR_PX = 400; // charts this close to the viewport are drawn before they scroll in
  var registry = {}; // chart name -> {plots: [uPlot], hidden: {group: true}}
  window.benchCharts = registry; // for the console and the browser tests

  // ---- numbers ----------------------------------------------------------------------------

  function num(v) {
    if (v == null || !isFinite(v)) return "–";
    var a = Math.abs(v);
    var digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
    return v.toLocaleString("en-US", { maximumFractionDigits: digits });
  }

  function pct(x) {
    var p = (1 - 1 / x) * 100;
    return (p >= 99 ? p.toFixed(2) : p.toFixed(1)).replace(/\.?0+$/, "") + "%";
  }

  function xText(axis, v) {
    if (axis.kind === "pct") return pct(v);
    if (axis.kind === "s") return num(v) + " s";
    return num(v) + (axis.unit || "");
  }

  // Log axes: labels only at 1, 2 and 5 times a power of ten, or they crowd.
  function logLabel(v) {
    var m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
    return Math.abs(m - 1) < 1e-6 || Math.abs(m - 2) < 1e-6 || Math.abs(m - 5) < 1e-6;
  }

  // A log axis's grid lines and ticks where its labels may be: fewer lines to read past.
  function logSplits(u, splits) {
    return splits.map(function (v) { return v != null && logLabel(v) ? v : null; });
  }

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  // ---- scales ---------------------------------------------------------------------------

  function xRange(panel) {
    var first = panel.x[0], last = panel.x[panel.x.length - 1];
    return function (u, min, max) {
      if (min == null || max == null) return [first, last];
      // The whole range (first drawing, double-click): room around the outer points.
      // A zoom gives other bounds, kept as they are.
      if (min === first && max === last) {
        if (panel.xaxis.log && panel.xaxis.ticks) return [min / 1.4, max * 1.4];
        if (panel.xaxis.log) return uPlot.rangeLog(min, max, 10, false);
        var pad = (max - min) * 0.03 || 1;
        return [panel.xaxis.kind === "s" ? Math.max(0, min - 0.5) : min - pad, max + pad];
      }
      return [min, max];
    };
  }

  function yRange(panel) {
    var lines = (panel.hlines || []).map(function (l) { return l.at; });
    return function (u, min, max) {
      var lo = min, hi = max;
      lines.forEach(function (at) {
        if (lo == null || at < lo) lo = at;
        if (hi == null || at > hi) hi = at;
      });
      if (panel.yaxis.log) {
        if (lo == null || hi == null || !(lo > 0)) return [1, 10];
        // Ends on a multiple of their power of ten: the log axis's ticks count from there.
        return uPlot.rangeLog(lo / 1.3, hi * 1.3, 10, false);
      }
      if (hi == null) return [0, 1];
      var base = panel.yaxis.zero ? 0 : lo;
      return [Math.min(0, base), hi > base ? hi * 1.1 : base + 1];
    };
  }

  // ---- drawing beyond the lines: intervals, marks, reference lines, warm-up ---------------

  function shade(panel) {
    return function (u) {
      if (!panel.shade) return;
      var ctx = u.ctx, b = u.bbox;
      var x0 = Math.max(b.left, u.valToPos(panel.shade[0], "x", true));
      var x1 = Math.min(b.left + b.width, u.valToPos(panel.shade[1], "x", true));
      if (x1 <= x0) return;
      ctx.save();
      ctx.fillStyle = "rgba(128,128,128,0.15)";
      ctx.fillRect(x0, b.top, x1 - x0, b.height);
      ctx.restore();
    };
  }

  function overlay(panel, state) {
    return function (u) {
      var ctx = u.ctx, b = u.bbox, px = devicePixelRatio || 1;
      ctx.save();
      ctx.beginPath();
      ctx.rect(b.left, b.top, b.width, b.height);
      ctx.clip();
      panel.series.forEach(function (spec, k) {
        var s = u.series[k + 1];
        if (!s.show) return;
        var ys = u.data[k + 1];
        for (var i = 0; i < ys.length; i++) {
          if (ys[i] == null) continue;
          var cx = u.valToPos(u.data[0][i], "x", true);
          var cy = u.valToPos(ys[i], "y", true);
          if (spec.low && spec.high && spec.low[i] != null && spec.high[i] != null) {
            var lo = u.valToPos(spec.low[i], "y", true), hi = u.valToPos(spec.high[i], "y", true);
            ctx.strokeStyle = spec.colour;
            ctx.lineWidth = 1.2 * px;
            ctx.beginPath();
            ctx.moveTo(cx, lo); ctx.lineTo(cx, hi);
            ctx.moveTo(cx - 3 * px, lo); ctx.lineTo(cx + 3 * px, lo);
            ctx.moveTo(cx - 3 * px, hi); ctx.lineTo(cx + 3 * px, hi);
            ctx.stroke();
          }
          var mark = spec.marks && spec.marks[i];
          if (mark === "invalid") {
            var r = 5 * px;
            ctx.strokeStyle = "#B00020";
            ctx.lineWidth = 2 * px;
            ctx.beginPath();
            ctx.moveTo(cx - r, cy - r); ctx.lineTo(cx + r, cy + r);
            ctx.moveTo(cx - r, cy + r); ctx.lineTo(cx + r, cy - r);
            ctx.stroke();
          } else if (mark === "limited") {
            var h = 9 * px;
            ctx.fillStyle = "#222222";
            ctx.beginPath();
            ctx.moveTo(cx, cy - h - 4 * px);
            ctx.lineTo(cx - h / 2, cy - 4 * px);
            ctx.lineTo(cx + h / 2, cy - 4 * px);
            ctx.closePath();
            ctx.fill();
          }
        }
      });
      ctx.restore();
      ctx.save();
      ctx.font = 11 * px + "px system-ui, sans-serif";
      (panel.hlines || []).forEach(function (line) {
        if (line.group && state.hidden[line.group]) return;
        var y = u.valToPos(line.at, "y", true);
        if (y < b.top || y > b.top + b.height) return;
        stroke(ctx, line, px);
        ctx.beginPath();
        ctx.moveTo(b.left, y); ctx.lineTo(b.left + b.width, y);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = line.colour;
        ctx.textAlign = "right";
        ctx.textBaseline = "bottom";
        ctx.fillText(line.label + " " + num(line.at), b.left + b.width - 4 * px, y - 2 * px);
      });
      var edges = { left: 0, right: 0 };
      (panel.vlines || []).forEach(function (line) {
        if (line.group && state.hidden[line.group]) return;
        var min = u.scales.x.min, max = u.scales.x.max;
        ctx.fillStyle = line.colour;
        if (line.at < min || line.at > max) {
          // Beyond the range: a label at the edge it lies past, as the PNG does.
          var right = line.at > max;
          var text = right ? line.label + " " + num(line.at) + " →" : "← " + line.label + " " + num(line.at);
          ctx.textAlign = right ? "right" : "left";
          ctx.textBaseline = "top";
          var row = edges[right ? "right" : "left"]++;
          ctx.fillText(text, right ? b.left + b.width - 4 * px : b.left + 4 * px, b.top + (4 + 14 * row) * px);
          return;
        }
        var x = u.valToPos(line.at, "x", true);
        stroke(ctx, line, px);
        ctx.beginPath();
        ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.save();
        ctx.translate(x - 3 * px, b.top + 4 * px);
        ctx.rotate(-Math.PI / 2);
        ctx.textAlign = "right";
        ctx.textBaseline = "bottom";
        ctx.fillText("bound " + num(line.at), 0, 0);
        ctx.restore();
      });
      ctx.restore();
    };
  }

  function stroke(ctx, line, px) {
    ctx.strokeStyle = line.colour;
    ctx.lineWidth = 1.4 * px;
    ctx.setLineDash((line.dash || []).map(function (d) { return d * px; }));
  }

  // ---- the tooltip ------------------------------------------------------------------------

  function nearest(u, panel) {
    var idx = u.cursor.idx;
    if (idx == null) return null;
    var best = null, bestD = Infinity;
    for (var k = 0; k < panel.series.length; k++) {
      var spec = panel.series[k];
      if (spec.bound || !u.series[k + 1].show) continue;
      var v = u.data[k + 1][idx];
      if (v == null) continue;
      var d = Math.abs(u.valToPos(v, "y") - u.cursor.top);
      if (d < bestD) { bestD = d; best = k; }
    }
    return best;
  }

  function tooltip(panel, tip) {
    return function (u) {
      var k = nearest(u, panel);
      if (k == null || u.cursor.left < 0) {
        tip.hidden = true;
        return;
      }
      var idx = u.cursor.idx, spec = panel.series[k];
      var y = u.data[k + 1][idx], x = u.data[0][idx];
      tip.textContent = "";
      var head = el("div", "tip-head");
      var swatch = el("span", "swatch");
      swatch.style.background = spec.colour;
      head.appendChild(swatch);
      head.appendChild(el("b", null, spec.label));
      tip.appendChild(head);
      tip.appendChild(el("div", "tip-value", num(y) + (panel.yaxis.unit || "") + " at " + xText(panel.xaxis, x)));
      if (spec.low && spec.low[idx] != null && spec.high[idx] != null) {
        tip.appendChild(el("div", null, "95% interval " + num(spec.low[idx]) + " – " + num(spec.high[idx])));
      }
      var mark = spec.marks && spec.marks[idx];
      if (mark === "invalid") tip.appendChild(el("div", "tip-warn", "invalid cell: not trusted"));
      if (mark === "limited") tip.appendChild(el("div", "tip-warn", "generator-limited: at least this"));
      // A series names its cells by index into the panel's list: one for the whole line, or
      // one per point.
      var at = spec.ids ? (spec.ids.length === 1 ? spec.ids[0] : spec.ids[idx]) : null;
      var cells = at != null && panel.cells ? panel.cells[at] : "";
      if (cells) tip.appendChild(el("div", "tip-cell", "cell " + cells));
      tip.hidden = false;
      var left = u.cursor.left + 14, top = Math.max(0, u.valToPos(y, "y") - 10);
      var room = u.over.clientWidth;
      if (left + tip.offsetWidth > room) left = Math.max(0, u.cursor.left - tip.offsetWidth - 14);
      tip.style.left = left + "px";
      tip.style.top = top + "px";
    };
  }

  // ---- one chart ------------------------------------------------------------------------

  function panelOptions(chart, panel, state, width, tip) {
    var series = [{ label: panel.xaxis.label }];
    panel.series.forEach(function (s) {
      var colour = s.bound ? rgba(s.colour, 0.2) : s.faded ? rgba(s.colour, 0.35) : s.colour;
      series.push({
        label: s.label,
        class: s.bound ? "bound" : undefined, // a bound gets no cursor point (CSS)
        stroke: colour,
        width: s.bound ? 7 : s.width || 2,
        dash: s.dash || undefined,
        spanGaps: true,
        show: !state.hidden[s.group],
        points: {
          show: s.points !== false && !s.bound,
          size: 7,
          width: 1.5,
          stroke: colour,
          fill: s.hollow ? "#ffffff" : colour,
        },
      });
    });
    var xaxis = panel.xaxis, yaxis = panel.yaxis;
    var x = {
      label: xaxis.label,
      stroke: "#444",
      grid: { stroke: "rgba(0,0,0,0.07)" },
      values: function (u, splits) {
        return splits.map(function (v) {
          if (v == null) return "";
          if (xaxis.kind === "pct") return pct(v);
          if (xaxis.log && !xaxis.ticks && !logLabel(v)) return "";
          return num(v);
        });
      },
    };
    if (xaxis.ticks) {
      // The load levels (or percentiles) themselves, every one labelled.
      x.splits = function (u) {
        return xaxis.ticks.filter(function (t) { return t >= u.scales.x.min && t <= u.scales.x.max; });
      };
      x.filter = function (u, splits) { return splits; };
    }
    var y = {
      label: yaxis.label,
      stroke: "#444",
      size: 62,
      grid: { stroke: "rgba(0,0,0,0.07)" },
      values: function (u, splits) {
        return splits.map(function (v) {
          return v == null || (yaxis.log && !logLabel(v)) ? "" : num(v);
        });
      },
    };
    if (yaxis.log) {
      y.grid.filter = logSplits;
      y.ticks = { filter: logSplits };
    }
    var cursor = {
      drag: { x: true, y: false },
      points: { size: 9, width: 2, fill: "#ffffff" },
    };
    if (panel.sync) cursor.sync = { key: chart.name + ":" + panel.sync, setSeries: false };
    return {
      title: panel.title,
      width: width,
      height: PANEL_HEIGHT,
      legend: { show: false },
      scales: {
        x: { time: false, distr: xaxis.log ? 3 : 1, range: xRange(panel) },
        y: { distr: yaxis.log ? 3 : 1, range: yRange(panel) },
      },
      axes: [x, y],
      series: series,
      cursor: cursor,
      hooks: {
        drawClear: [shade(panel)],
        draw: [overlay(panel, state)],
        setCursor: [tooltip(panel, tip)],
        setScale: [function (u, key) { syncZoom(state, panel, u, key); }],
      },
    };
  }

  // Panels sharing a sync key (a family's req/s and p95) zoom together.
  function syncZoom(state, panel, u, key) {
    if (key !== "x" || !panel.sync || state.syncing) return;
    state.syncing = true;
    state.plots.forEach(function (other, i) {
      if (other !== u && state.panels[i].sync === panel.sync) {
        other.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
      }
    });
    state.syncing = false;
  }

  function panelWidth(host, chart) {
    var room = host.clientWidth || 900;
    var cols = Math.max(1, Math.min(chart.columns || 3, chart.panels.length, Math.floor(room / MIN_PANEL_WIDTH)));
    return Math.floor(room / cols) - 8;
  }

  function legend(chart, state) {
    var box = el("div", "keys");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "show or hide a strategy");
    chart.keys.forEach(function (key) {
      var button = el("button", "key");
      button.type = "button";
      button.dataset.group = key.group;
      button.setAttribute("aria-pressed", "true");
      var swatch = el("span", "swatch");
      swatch.style.background = key.colour;
      button.appendChild(swatch);
      button.appendChild(document.createTextNode(key.group));
      button.addEventListener("click", function () {
        var show = !!state.hidden[key.group];
        if (show) delete state.hidden[key.group];
        else state.hidden[key.group] = true;
        button.setAttribute("aria-pressed", String(show));
        state.plots.forEach(function (u, p) {
          u.batch(function () {
            state.panels[p].series.forEach(function (s, k) {
              if (s.group === key.group) u.setSeries(k + 1, { show: show });
            });
          });
          u.redraw(false);
        });
      });
      box.appendChild(button);
    });
    (chart.notes || []).forEach(function (note) {
      box.appendChild(el("span", "note", note));
    });
    return box;
  }

  function draw(host, chart) {
    if (host.dataset.drawn) return;
    host.dataset.drawn = "1";
    var state = { plots: [], panels: chart.panels, hidden: {}, syncing: false };
    registry[chart.name] = state;
    host.appendChild(legend(chart, state));
    var grid = el("div", "panels");
    host.appendChild(grid);
    var width = panelWidth(host, chart);
    chart.panels.forEach(function (panel) {
      var cell = el("div", "panel");
      grid.appendChild(cell);
      var tip = el("div", "tip");
      tip.hidden = true;
      tip.setAttribute("role", "status");
      var data = [panel.x].concat(panel.series.map(function (s) { return s.y; }));
      var u = new uPlot(panelOptions(chart, panel, state, width, tip), data, cell);
      u.over.appendChild(tip);
      u.over.addEventListener("mouseleave", function () { tip.hidden = true; });
      state.plots.push(u);
    });
    host.classList.add("drawn");
  }

  function resize() {
    Object.keys(registry).forEach(function (name) {
      var state = registry[name];
      var host = document.querySelector(".ichart[data-chart='" + name + "']");
      var width = panelWidth(host, { columns: Number(host.dataset.columns), panels: state.panels });
      state.plots.forEach(function (u) { u.setSize({ width: width, height: PANEL_HEIGHT }); });
    });
  }

  function charts() {
    var source = document.getElementById("bench-charts");
    if (!source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    var hosts = Array.prototype.slice.call(document.querySelectorAll(".ichart[data-chart]"));
    var pending = [];
    hosts.forEach(function (host) {
      var chart = data.charts[host.dataset.chart];
      if (!chart) return;
      host.dataset.columns = String(chart.columns || 3);
      var box = host.getBoundingClientRect();
      // What the reader sees first is drawn now; the rest as it comes near.
      if (box.top < innerHeight + NEAR_PX && box.bottom > -NEAR_PX) draw(host, chart);
      else pending.push([host, chart]);
    });
    if (pending.length && "IntersectionObserver" in window) {
      var byHost = new Map(pending);
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (!entry.isIntersecting) return;
          observer.unobserve(entry.target);
          draw(entry.target, byHost.get(entry.target));
        });
      }, { rootMargin: NEAR_PX + "px 0px" });
      pending.forEach(function (item) { observer.observe(item[0]); });
    } else {
      pending.forEach(function (item) { draw(item[0], item[1]); });
    }
    var timer = null;
    addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(resize, 150);
    });
  }

  // ---- tables -----------------------------------------------------------------------------

  // A cell's text as a number: "1,234.5", "≥ 1,234", "0.50%", "1,945.7 (93% late)"; null
  // for text ("sync-asyncio-...", "–").
  function numeric(text) {
    var t = text.replace(/[,\s≥~]/g, "");
    if (!/^[-+]?(\d|\.\d)/.test(t)) return null;
    var v = parseFloat(t);
    return isFinite(v) ? v : null;
  }

  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (row) {
      var cell = row.cells[col];
      var text = cell ? cell.textContent.trim() : "";
      return { row: row, text: text, value: numeric(text) };
    });
    var numbers = keys.filter(function (k) { return k.value != null; }).length;
    var isNumeric = numbers > 0 && numbers >= keys.filter(function (k) { return k.text && k.text !== "–"; }).length / 2;
    var current = th.getAttribute("aria-sort");
    // Numbers first from the largest (the fastest cell on top), text from A.
    var descending = current === "none" ? isNumeric : current === "ascending";
    var sign = descending ? -1 : 1;
    keys.sort(function (a, b) {
      if (isNumeric) {
        if (a.value == null || b.value == null) return (a.value == null) - (b.value == null);
        return sign * (a.value - b.value);
      }
      return sign * a.text.localeCompare(b.text, "en", { numeric: true });
    });
    Array.prototype.forEach.call(th.parentNode.cells, function (other) {
      other.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var fragment = document.createDocumentFragment();
    keys.forEach(function (k) { fragment.appendChild(k.row); });
    body.appendChild(fragment);
  }

  function sortable(table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.setAttribute("aria-sort", "none");
      th.tabIndex = 0;
      th.title = "sort by " + th.textContent;
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sortBy(table, col, th);
        }
      });
    });
    table.classList.add("sortable");
  }

  var FILTER_NAMES = { scenario: "scenario", variant: "strategy", status: "validity" };

  function filterable(table) {
    var keys = (table.dataset.filters || "").split(" ").filter(Boolean);
    if (!keys.length) return;
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var bar = el("div", "filters");
    var selects = {};
    keys.forEach(function (key) {
      var values = [];
      rows.forEach(function (row) {
        var v = row.dataset[key];
        if (v != null && values.indexOf(v) < 0) values.push(v);
      });
      if (values.length < 2) return;
      values.sort(function (a, b) { return a.localeCompare(b, "en", { numeric: true }); });
      var label = el("label", null, (FILTER_NAMES[key] || key) + " ");
      var select = el("select");
      select.dataset.filter = key;
      select.appendChild(el("option", null, "all")).value = "";
      values.forEach(function (v) { select.appendChild(el("option", null, v)).value = v; });
      select.addEventListener("change", apply);
      label.appendChild(select);
      bar.appendChild(label);
      selects[key] = select;
    });
    var search = el("input");
    search.type = "search";
    search.placeholder = "filter rows…";
    search.setAttribute("aria-label", "filter rows by any text");
    search.addEventListener("input", apply);
    bar.appendChild(search);
    var count = el("span", "count");
    count.setAttribute("aria-live", "polite");
    bar.appendChild(count);
    var scroll = table.parentNode;
    scroll.parentNode.insertBefore(bar, scroll);

    function apply() {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row) {
        var ok = Object.keys(selects).every(function (key) {
          var want = selects[key].value;
          return !want || row.dataset[key] === want;
        });
        if (ok && words.length) {
          var text = row.textContent.toLowerCase();
          ok = words.every(function (w) { return text.indexOf(w) >= 0; });
        }
        row.hidden = !ok;
        shown += ok ? 1 : 0;
      });
      count.textContent = shown === rows.length ? rows.length + " rows" : shown + " of " + rows.length + " rows";
    }
    apply();
  }

  function tables() {
    Array.prototype.forEach.call(document.querySelectorAll("table.data"), function (table) {
      sortable(table);
      filterable(table);
    });
  }

  function start() {
    tables();
    charts();
    document.documentElement.dataset.ready = String(Math.round(performance.now()));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
