// Report cards (web/templates/reports/page.html): draws each card's chart with ECharts from the table JSON the
// page embeds (<script type="application/json" class="report-data">), by chart.kind: bar, line, funnel, pie,
// bar_line (last series a line on a second axis), stack (stacked bars). Without echarts the table alone stays.
(function () {
  "use strict";
  var NUMERIC = { int: true, money: true, percent: true, decimal: true };

  function number(v) {
    if (v === null || v === undefined || v === "") return null;
    var n = typeof v === "number" ? v : parseFloat(v);
    return isNaN(n) ? null : n;
  }

  function formatter(kind) {
    return function (v) {
      if (v === null || v === undefined || v === "-") return "—";
      if (kind === "money") {
        return "¥" + Number(v).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      }
      if (kind === "percent") return Number(v).toFixed(1) + "%";
      return Number(v).toLocaleString("zh-CN");
    };
  }

  function axisLabel(kind) {
    var f = formatter(kind);
    return function (v) {
      if (kind === "money" && Math.abs(v) >= 10000) return "¥" + (v / 10000).toLocaleString("zh-CN") + "万";
      return f(v);
    };
  }

  function option(data) {
    var chart = data.chart;
    var cols = {};
    data.columns.forEach(function (c) { cols[c.key] = c; });
    var x = cols[chart.x] || { label: chart.x, kind: "text" };
    var series = chart.series.filter(function (k) { return cols[k] && NUMERIC[cols[k].kind]; });
    var categories = data.rows.map(function (r) { return r[chart.x] === null ? "" : String(r[chart.x]); });
    var base = { tooltip: { trigger: "axis", confine: true }, legend: { type: "scroll", top: 0 },
                 grid: { left: 8, right: 8, bottom: 8, top: 36, containLabel: true } };

    if (chart.kind === "funnel" || chart.kind === "pie") {
      var key = series[0];
      var col = cols[key];
      // one slice per category: a group funnel lists each sector's stages, the chart sums them
      var items = [], index = {};
      data.rows.forEach(function (r, i) {
        var name = categories[i];
        if (number(r[key]) === null) return;  // e.g. the lost stage has no "reached": not a funnel layer
        if (!(name in index)) { index[name] = items.length; items.push({ name: name, value: 0 }); }
        items[index[name]].value += number(r[key]) || 0;
      });
      base.tooltip = { trigger: "item", confine: true, valueFormatter: formatter(col.kind) };
      base.series = [chart.kind === "funnel"
        ? { type: "funnel", name: col.label, sort: "none", top: 36, bottom: 8, left: "10%", width: "80%",
            label: { show: true, position: "inside", formatter: "{b}: {c}" }, data: items }
        : { type: "pie", name: col.label, radius: ["35%", "65%"], top: 24, data: items,
            label: { formatter: "{b}: {d}%" } }];
      return base;
    }

    var lineLast = chart.kind === "bar_line" && series.length > 1;
    var stack = chart.kind === "stack" || chart.stack;
    var leftKind = series.length ? cols[series[0]].kind : "int";
    base.xAxis = { type: "category", data: categories, name: x.label, nameLocation: "middle", nameGap: 28,
                   axisLabel: { hideOverlap: true } };
    base.grid.bottom = 28;
    base.yAxis = [{ type: "value", axisLabel: { formatter: axisLabel(leftKind) } }];
    if (lineLast) {
      base.yAxis.push({ type: "value", axisLabel: { formatter: axisLabel(cols[series[series.length - 1]].kind) },
                        splitLine: { show: false } });
    }
    base.series = series.map(function (key, i) {
      var col = cols[key];
      var isLine = chart.kind === "line" || (lineLast && i === series.length - 1);
      return {
        type: isLine ? "line" : "bar", name: col.label, yAxisIndex: lineLast && i === series.length - 1 ? 1 : 0,
        stack: stack && !isLine ? "total" : undefined, smooth: isLine,
        tooltip: { valueFormatter: formatter(col.kind) },
        data: data.rows.map(function (r) { return number(r[key]); })
      };
    });
    return base;
  }

  function hasNumbers(data) {
    return data.rows.some(function (r) {
      return data.chart.series.some(function (k) { return number(r[k]) !== null; });
    });
  }

  var charts = [];
  document.querySelectorAll(".report-card").forEach(function (card) {
    var holder = card.querySelector(".report-chart");
    var script = card.querySelector("script.report-data");
    if (!holder || !script) return;
    if (typeof window.echarts === "undefined") { holder.remove(); return; }
    var data;
    try { data = JSON.parse(script.textContent); } catch (e) { holder.remove(); return; }
    if (!data.chart || !hasNumbers(data)) { holder.remove(); return; }  // nothing to draw: the table alone
    var chart = window.echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption(option(data));
    holder.dataset.drawn = "1";
    charts.push(chart);
  });

  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) window.clearTimeout(pending);
    pending = window.setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 100);
  });
})();
