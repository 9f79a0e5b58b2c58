// Charts of the overview and the timeline, drawn with the project's own ECharts copy.
// Titles and paths are untrusted: every tooltip escapes them before ECharts renders HTML.
(function () {
  "use strict";
  function escapeHtml(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function dataOf(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  var theme = dark ? "dark" : null;
  var charts = [];
  function chart(id) {
    var node = document.getElementById(id);
    if (!node || !window.echarts) return null;
    var c = window.echarts.init(node, theme, { renderer: "canvas" });
    charts.push(c);
    return c;
  }
  function hhmm(iso, tz) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit",
                                                  hourCycle: "h23", timeZone: tz });
  }
  var tz = document.body.dataset.tz || "UTC";
  // Category labels (applications, hosts) take at most a third of a narrow chart: the bars keep the rest.
  function labelWidth(id) {
    var node = document.getElementById(id);
    return Math.max(60, Math.min(160, Math.floor((node ? node.clientWidth : 480) / 3)));
  }

  var overview = dataOf("overview-data");
  if (overview) {
    var apps = chart("apps-chart");
    if (apps) {
      var rows = overview.apps.slice().reverse();
      apps.setOption({
        backgroundColor: "transparent",
        grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
        tooltip: { trigger: "item", formatter: function (p) { return escapeHtml(p.name) + ": " + p.value + " min"; } },
        xAxis: { type: "value", splitNumber: Math.max(2, Math.floor(document.getElementById("apps-chart").clientWidth / 90)),
                 axisLabel: { formatter: "{value} min", hideOverlap: true } },
        yAxis: { type: "category", data: rows.map(function (r) { return r[0]; }),
                 axisLabel: { width: labelWidth("apps-chart"), overflow: "truncate" } },
        series: [{ type: "bar", data: rows.map(function (r) { return r[1]; }) }]
      });
    }
    var heat = chart("heatmap");
    if (heat) {
      var max = overview.heatmap.reduce(function (m, d) { return Math.max(m, d[1]); }, 1);
      heat.setOption({
        backgroundColor: "transparent",
        tooltip: { formatter: function (p) { return escapeHtml(p.value[0]) + ": " + p.value[1] + " h"; } },
        visualMap: { show: false, min: 0, max: max, inRange: { color: dark ? ["#1f3a2b", "#52c483"] : ["#d6f0df", "#1f8a4c"] } },
        calendar: { range: String(overview.year), cellSize: ["auto", 15], left: 30, right: 10, top: 30,
                    itemStyle: { color: dark ? "#262a31" : "#eef0f3", borderColor: dark ? "#1f2228" : "#fff" },
                    splitLine: { show: false },
                    dayLabel: { color: dark ? "#9aa3ae" : "#5d6470" }, monthLabel: { color: dark ? "#9aa3ae" : "#5d6470" } },
        series: [{ type: "heatmap", coordinateSystem: "calendar", data: overview.heatmap }]
      });
      heat.on("click", function (p) { window.location.href = "/?period=day&date=" + encodeURIComponent(p.value[0]); });
    }
  }

  var timeline = dataOf("timeline-data");
  if (timeline && timeline.lanes.length) {
    var tl = chart("timeline-chart");
    if (tl) {
      var hosts = timeline.lanes.map(function (l) { return l.host_identifier; });
      var palette = ["#2f6fde", "#1f8a4c", "#b7791f", "#c53030", "#6b46c1", "#0987a0", "#d53f8c", "#718096"];
      var colours = {}, next = 0, items = [];
      timeline.lanes.forEach(function (lane, i) {
        lane.segments.forEach(function (s) {
          if (!(s.application in colours)) colours[s.application] = palette[next++ % palette.length];
          items.push({ value: [i, Date.parse(s.start), Date.parse(s.end)], seg: s, host: lane.host_identifier,
                       itemStyle: { color: colours[s.application] } });
        });
      });
      var legend = document.getElementById("timeline-legend");
      if (legend) {  // which colour is which application (names are untrusted: text nodes only)
        Object.keys(colours).forEach(function (app) {
          var item = document.createElement("li"), swatch = document.createElement("span");
          swatch.className = "swatch";
          swatch.style.background = colours[app];
          item.appendChild(swatch);
          item.appendChild(document.createTextNode(app));
          legend.appendChild(item);
        });
      }
      tl.setOption({
        backgroundColor: "transparent",
        // A busy day is about a thousand bars: drawn at once, without an animation per bar.
        animation: false,
        tooltip: { formatter: function (p) {
          var s = p.data.seg;
          var what = s.sessions > 1 ? s.sessions + (timeline.merged_within_seconds === null ? " short sessions" : " sessions")
                                     : escapeHtml(s.title || "");
          return "<b>" + escapeHtml(s.application) + "</b><br>" + what + "<br>" + hhmm(s.start, tz) + " – " + hhmm(s.end, tz);
        } },
        grid: { left: 8, right: 16, top: 10, bottom: 30, containLabel: true },
        xAxis: { type: "time", min: Date.parse(timeline.start), max: Date.parse(timeline.end),
                 axisLabel: { hideOverlap: true,
                              formatter: function (v) { return hhmm(new Date(v).toISOString(), tz).slice(0, 5); } } },
        yAxis: { type: "category", data: hosts, inverse: true,
                 axisLabel: { width: labelWidth("timeline-chart"), overflow: "truncate" } },
        series: [{
          type: "custom", encode: { x: [1, 2], y: 0 }, data: items,
          renderItem: function (params, api) {
            var lane = api.value(0), start = api.coord([api.value(1), lane]), end = api.coord([api.value(2), lane]);
            var height = api.size([0, 1])[1] * 0.6;
            return { type: "rect", shape: { x: start[0], y: start[1] - height / 2, width: Math.max(end[0] - start[0], 1), height: height },
                     style: api.style() };
          }
        }]
      });
      tl.on("click", function (p) {
        // A bar of several sessions may hold other applications than the one it is named for.
        var s = p.data.seg, q = new URLSearchParams({ start: s.start, end: s.end, tz: tz });
        if (s.sessions === 1) q.set("application", s.application);
        if (p.data.host && p.data.host !== "(unknown host)") q.set("host", p.data.host);
        window.location.href = "/sessions?" + q.toString();
      });
    }
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
