// Sortable tables and the per-case drill-down. Data arrives as JSON in <script type="application/json">;
// every string from it goes into the page through textContent, never innerHTML.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }

  // ---- sortable tables ----------------------------------------------------------------------
  function cellValue(td) {
    var v = td.getAttribute("data-v");
    return v === null ? td.textContent.trim() : v;
  }
  function sortTable(table, col, th) {
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
    if (!th.hasAttribute("aria-sort") && th.getAttribute("data-first") === "asc") dir = "ascending";
    var numeric = rows.every(function (r) { var v = cellValue(r.cells[col]); return v === "" || !isNaN(parseFloat(v)); });
    rows.sort(function (a, b) {
      var x = cellValue(a.cells[col]), y = cellValue(b.cells[col]);
      if (x === "" && y === "") return 0;
      if (x === "") return 1;  // missing values last, whatever the direction
      if (y === "") return -1;
      var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return dir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.title = th.title || "Sort by this column";
      th.addEventListener("click", function () { sortTable(table, i, th); });
    });
  });

  // ---- drill-down ---------------------------------------------------------------------------
  var holder = document.getElementById("cases-data");
  var root = document.getElementById("drill");
  if (!holder || !root) { document.documentElement.setAttribute("data-ready", "1"); return; }
  var cases = JSON.parse(holder.textContent);
  var PAGE = 25;
  var page = 0;
  var f = {
    suite: document.getElementById("f-suite"), model: document.getElementById("f-model"),
    outcome: document.getElementById("f-outcome"), tag: document.getElementById("f-tag"),
    text: document.getElementById("f-text")
  };
  var list = document.getElementById("drill-list");
  var count = document.getElementById("drill-count");
  var prev = document.getElementById("drill-prev"), next = document.getElementById("drill-next");

  function verdict(a) {
    if (a.st === "error") return ["error", "error"];
    if (a.st === "skipped") return ["skipped", "skipped"];
    if (a.st === "filtered") return ["fail", "filtered"];
    return a.ok ? ["pass", "passed"] : ["fail", "failed"];
  }
  function caseFailed(c, model) {
    var names = model ? [model] : Object.keys(c.m);
    return names.some(function (n) { return (c.m[n] || []).some(function (a) { return !a.ok || a.st !== "ok"; }); });
  }
  function matches(c) {
    var s = f.suite.value, m = f.model.value, o = f.outcome.value, t = f.tag.value;
    var q = f.text.value.trim().toLowerCase();
    if (s && c.s !== s) return false;
    if (m && !c.m[m]) return false;
    if (t && c.t.indexOf(t) < 0) return false;
    if (o === "failed" && !caseFailed(c, m)) return false;
    if (o === "passed" && caseFailed(c, m)) return false;
    if (o === "disagree") {
      var v = {};
      Object.keys(c.m).forEach(function (n) { c.m[n].forEach(function (a) { v[a.ok ? 1 : 0] = 1; }); });
      if (Object.keys(v).length < 2) return false;
    }
    if (q) {
      var hay = (c.c + " " + c.p + " " + c.e).toLowerCase();
      var hit = hay.indexOf(q) >= 0 || Object.keys(c.m).some(function (n) {
        return c.m[n].some(function (a) { return (a.a + " " + a.er).toLowerCase().indexOf(q) >= 0; });
      });
      if (!hit) return false;
    }
    return true;
  }
  function fmtMs(v) { return v === null || v === undefined ? "" : (v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms"); }
  function fmtCost(v) { return v === null || v === undefined ? "" : "$" + (v >= 0.01 ? v.toFixed(3) : v.toPrecision(2)); }

  function renderAnswer(name, a, showRepeat) {
    var box = el("div", "answer");
    var who = el("div", "who");
    who.appendChild(el("span", null, name + (showRepeat ? " · repeat " + a.r : "")));
    var v = verdict(a);
    who.appendChild(el("span", "badge " + v[0], v[1] + (a.sc !== null && a.sc !== undefined && a.sc !== 0 && a.sc !== 1 ? " · " + a.sc.toFixed(2) : "")));
    box.appendChild(who);
    // Why the answer ended, when it is news: cut at the token limit, a content filter, ...
    var fr = a.fr && a.fr !== "stop" ? "finish: " + a.fr + (a.fr === "length" ? " (cut at max tokens)" : "") : "";
    var facts = [fmtMs(a.l), fmtCost(a.$), fr].filter(Boolean).join(" · ");
    if (facts) box.appendChild(el("div", "facts", facts));
    if (a.er) box.appendChild(el("div", "err", a.er));
    if (a.st === "ok" || (a.st === "filtered" && a.a)) {
      box.appendChild(el("pre", "out", a.a === "" ? "(empty answer)" : a.a));
      if (a.at) box.appendChild(el("div", "muted small", "answer truncated; the full text is in DuckDB"));
    }
    if (a.rs) {
      var d = el("details", "reasoning");
      d.appendChild(el("summary", null, "reasoning" + (a.rt ? " (truncated)" : "")));
      d.appendChild(el("pre", null, a.rs));
      box.appendChild(d);
    }
    if (a.d) {
      var dd = el("details", "score-details");
      dd.appendChild(el("summary", null, "score details"));
      var text = a.d;
      try { text = JSON.stringify(JSON.parse(a.d), null, 1); } catch (e) { /* truncated JSON stays as text */ }
      dd.appendChild(el("pre", null, text));
      box.appendChild(dd);
    }
    return box;
  }
  function renderCase(c) {
    var card = el("div", "case");
    card.setAttribute("data-case", c.s + "/" + c.c);
    var h = el("h4");
    h.appendChild(el("span", null, c.c));
    h.appendChild(el("span", "muted small", c.s + " · " + c.k));
    c.t.forEach(function (t) { h.appendChild(el("span", "tag", t)); });
    card.appendChild(h);
    var p = el("details", "prompt");
    p.open = true;
    p.appendChild(el("summary", null, "prompt" + (c.pt ? " (truncated)" : "")));
    p.appendChild(el("pre", null, c.p));
    card.appendChild(p);
    if (c.e) {
      var e = el("div", "small");
      e.appendChild(el("b", null, "expected: "));
      e.appendChild(el("span", "mono", c.e));
      card.appendChild(e);
    }
    var grid = el("div", "answers");
    var only = f.model.value;
    Object.keys(c.m).sort().forEach(function (name) {
      if (only && name !== only) return;
      var reps = c.m[name];
      reps.forEach(function (a) { grid.appendChild(renderAnswer(name, a, reps.length > 1)); });
    });
    card.appendChild(grid);
    return card;
  }
  function render() {
    var hits = cases.filter(matches);
    var pages = Math.max(1, Math.ceil(hits.length / PAGE));
    if (page >= pages) page = pages - 1;
    list.textContent = "";
    hits.slice(page * PAGE, page * PAGE + PAGE).forEach(function (c) { list.appendChild(renderCase(c)); });
    count.textContent = hits.length + " of " + cases.length + " cases · page " + (page + 1) + " of " + pages;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    if (!hits.length) list.appendChild(el("p", "muted", "No case matches these filters."));
  }
  ["suite", "model", "outcome", "tag"].forEach(function (k) { f[k].addEventListener("change", function () { page = 0; render(); }); });
  var timer = null;
  f.text.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(function () { page = 0; render(); }, 150); });
  prev.addEventListener("click", function () { page -= 1; render(); root.scrollIntoView(); });
  next.addEventListener("click", function () { page += 1; render(); root.scrollIntoView(); });
  render();
  document.documentElement.setAttribute("data-ready", "1");
})();
