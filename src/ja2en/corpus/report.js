// ja2en report: builds the page from the JSON blocks above. Data only ever reaches the DOM
// through textContent and attribute values, never as markup.
(function () {
  "use strict";

  var RUN = JSON.parse(document.getElementById("ja2en-run").textContent);
  var DOCS = JSON.parse(document.getElementById("ja2en-documents").textContent);
  var PAGE_SIZE = 400; // pairs per page: the DOM stays small with 10,000 pairs
  var SVG = "http://www.w3.org/2000/svg";
  // A pair is a list: [paragraph, sentence, start, end, ja, en, score, flags, locator]
  var PARAGRAPH = 0, SENTENCE = 1, START = 2, END = 3, JA = 4, EN = 5, SCORE = 6, FLAGS = 7, LOCATOR = 8;

  // Every pair, in document order: {doc: index into DOCS, pair: the list}.
  var PAIRS = [];
  DOCS.forEach(function (doc, d) {
    doc.pairs.forEach(function (pair) { PAIRS.push({ doc: d, pair: pair }); });
  });

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgEl(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function table(rows, head) {
    var t = el("table");
    if (head) {
      var tr = el("tr");
      head.forEach(function (h) { tr.appendChild(el("th", null, h)); });
      t.appendChild(tr);
    }
    rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell, i) { tr.appendChild(el(i === 0 && !head ? "th" : "td", null, cell)); });
      t.appendChild(tr);
    });
    return t;
  }

  function show(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function hasScore(pair) { return typeof pair[SCORE] === "number"; }

  // Score → colour: green when confident (near 0), through amber to red below -1.5.
  function scoreColour(score) {
    if (typeof score !== "number") return null;
    var t = Math.max(0, Math.min(1, -score / 1.5));
    return "hsl(" + Math.round(125 * (1 - t)) + ", 62%, " + Math.round(36 + 6 * (1 - t)) + "%)";
  }

  // ---- statistics -------------------------------------------------------------------
  var flagCounts = {};
  var flagged = 0;
  var scores = [];
  var ratios = [];
  PAIRS.forEach(function (item) {
    var pair = item.pair;
    if (pair[FLAGS] && pair[FLAGS].length) flagged += 1;
    (pair[FLAGS] || []).forEach(function (f) { flagCounts[f] = (flagCounts[f] || 0) + 1; });
    if (hasScore(pair)) scores.push(pair[SCORE]);
    if (pair[JA].length) ratios.push(pair[EN].length / pair[JA].length);
  });
  var flagKinds = Object.keys(flagCounts).sort(function (a, b) { return flagCounts[b] - flagCounts[a] || (a < b ? -1 : 1); });

  // ---- status ---------------------------------------------------------------------
  function renderStatus() {
    if (RUN.finished) return;
    var box = document.getElementById("status");
    var done = DOCS.length + (RUN.documents_planned !== null ? " of " + RUN.documents_planned : "");
    box.textContent = "Unfinished run (status: " + show(RUN.status) + "): " + done +
      " documents written so far. This report shows what is done; re-run the same `ja2en translate` " +
      "command to finish it, then write the report again.";
    box.hidden = false;
  }

  // ---- overview -------------------------------------------------------------------
  function card(value, label, extra) {
    var c = el("div", "card" + (extra ? " " + extra : ""));
    c.appendChild(el("div", "value", value));
    c.appendChild(el("div", "label", label));
    return c;
  }

  function renderCounts() {
    var box = document.getElementById("counts");
    var paragraphs = DOCS.reduce(function (n, d) { return n + (d.num_paragraphs || 0); }, 0);
    box.appendChild(card(DOCS.length + (RUN.finished || RUN.documents_planned === null ? "" : " / " + RUN.documents_planned), "documents"));
    box.appendChild(card(paragraphs, "paragraphs"));
    box.appendChild(card(PAIRS.length, "sentence pairs"));
    box.appendChild(card(RUN.errors_total, "errors", RUN.errors_total ? "errors" : ""));
    box.appendChild(card(flagged, "flagged pairs", flagged ? "flagged" : ""));
    flagKinds.forEach(function (f) { box.appendChild(card(flagCounts[f], "flag: " + f, "flagged")); });
    if (PAIRS.length && scores.length < PAIRS.length) box.appendChild(card(PAIRS.length - scores.length, "pairs without a score"));
  }

  function renderTables() {
    var models = el("table");
    RUN.models.forEach(function (m) {
      var tr = el("tr");
      tr.appendChild(el("th", null, m.role));
      var name = el("td");
      name.appendChild(el("div", "model-name", m.name));
      name.appendChild(el("div", "model-detail", [m.revision, m.device, m.dtype, m.backend, m.quantization].filter(Boolean).join(" · ")));
      tr.appendChild(name);
      tr.appendChild(el("td", "license", m.license));
      models.appendChild(tr);
    });
    document.getElementById("models").appendChild(RUN.models.length ? models : el("p", "empty", "No models recorded."));
    var settings = [["folder", RUN.folder], ["inputs", RUN.inputs.join(", ")], ["status", show(RUN.status)],
      ["ja2en", show(RUN.ja2en_version)]];
    var options = Object.keys(RUN.settings).map(function (k) { return k + ": " + show(RUN.settings[k]); });
    if (options.length) settings.push(["options", options.join(" · ")]);
    settings.push(["report written", RUN.generated_at]);
    document.getElementById("settings").appendChild(table(settings));
    var thisRun = RUN.this_run || {};
    var t = thisRun.timings || {};
    var timings = [["started", show(thisRun.started_at)], ["finished", show(thisRun.finished_at)]];
    if ("total_s" in t) timings.push(["total", formatSeconds(t.total_s)]);
    var steps = Object.keys(t).filter(function (k) { return k !== "total_s"; }).map(function (k) {
      return k.replace(/_s$/, "").replace(/_/g, " ") + " " + formatSeconds(t[k]);
    });
    if (steps.length) timings.push(["steps", steps.join(" · ")]);
    if ("documents_translated" in thisRun) {
      timings.push(["documents", thisRun.documents_translated + " translated · " + show(thisRun.documents_resumed) + " resumed"]);
      timings.push(["cache", plural(thisRun.sentences_from_cache || 0, "sentence") + " from the cache"]);
    }
    if (!RUN.finished) timings.push(["note", "the run has not finished: no timings yet"]);
    document.getElementById("timings").appendChild(table(timings));
  }

  function formatSeconds(s) {
    if (typeof s !== "number") return show(s);
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    var m = Math.floor(s / 60);
    return (m >= 60 ? Math.floor(m / 60) + " h " + (m % 60) + " min" : m + " min ") + (m >= 60 ? "" : Math.round(s % 60) + " s");
  }

  // ---- charts ---------------------------------------------------------------------
  var WIDE = 600, NARROW = 300, H = 130, PAD = { l: 34, r: 8, t: 8, b: 22 };

  function histogram(values, lo, hi, bins) {
    var counts = new Array(bins).fill(0);
    var width = (hi - lo) / bins || 1;
    values.forEach(function (v) {
      var i = Math.floor((v - lo) / width);
      counts[Math.max(0, Math.min(bins - 1, i))] += 1;
    });
    return counts;
  }

  function barChart(counts, lo, hi, label, W, H) {
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label });
    var max = Math.max.apply(null, counts.concat([1]));
    var plotW = W - PAD.l - PAD.r, plotH = H - PAD.t - PAD.b;
    var bw = plotW / counts.length;
    svg.appendChild(svgEl("line", { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, stroke: "#9aa4b1" }));
    svg.appendChild(svgEl("text", { x: PAD.l - 4, y: PAD.t + 8, "text-anchor": "end" }, max));
    svg.appendChild(svgEl("text", { x: PAD.l - 4, y: H - PAD.b, "text-anchor": "end" }, 0));
    counts.forEach(function (c, i) {
      var h = (c / max) * plotH;
      var bar = svgEl("rect", { x: PAD.l + i * bw + 1, y: H - PAD.b - h, width: Math.max(1, bw - 2), height: h, fill: "#6b8fc9", "class": "bar" });
      var from = lo + (i * (hi - lo)) / counts.length, to = lo + ((i + 1) * (hi - lo)) / counts.length;
      bar.appendChild(svgEl("title", {}, c + " pairs in " + from.toFixed(2) + " … " + to.toFixed(2)));
      svg.appendChild(bar);
    });
    [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
      svg.appendChild(svgEl("text", { x: PAD.l + f * plotW, y: H - 6, "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle" },
        (lo + f * (hi - lo)).toFixed(2)));
    });
    return svg;
  }

  // Loops, not Math.min.apply: a spread of 100,000s of arguments overflows the stack.
  var scoreLo = scores.reduce(function (m, s) { return Math.min(m, s); }, scores.length ? Infinity : -1);
  var scoreHi = scores.reduce(function (m, s) { return Math.max(m, s); }, 0);
  if (scoreHi - scoreLo < 0.01) scoreLo = scoreHi - 1;
  scoreLo = Math.floor(scoreLo * 10) / 10;
  var scoreMarker = null, scoreShade = null;

  function renderScoreChart() {
    var box = document.getElementById("score-chart");
    if (!scores.length) {
      box.appendChild(el("p", "empty", "No pair has a score."));
      document.querySelector(".threshold").hidden = true;
      return;
    }
    var svg = barChart(histogram(scores, scoreLo, scoreHi, 40), scoreLo, scoreHi, "score distribution", WIDE, H);
    scoreShade = svgEl("rect", { x: PAD.l, y: PAD.t, width: 0, height: H - PAD.t - PAD.b, fill: "#c62828", "fill-opacity": 0.12 });
    scoreMarker = svgEl("line", { x1: PAD.l, x2: PAD.l, y1: PAD.t, y2: H - PAD.b, stroke: "#c62828", "stroke-width": 2, id: "min-score-marker" });
    svg.appendChild(scoreShade);
    svg.appendChild(scoreMarker);
    box.appendChild(svg);

    var range = document.getElementById("min-score-range");
    var number = document.getElementById("min-score");
    range.min = scoreLo; range.max = scoreHi; range.step = ((scoreHi - scoreLo) / 200).toFixed(4);
    number.min = scoreLo; number.max = scoreHi;
    // Start where the lowest tenth of the pairs would go: a useful first look.
    var sorted = scores.slice().sort(function (a, b) { return a - b; });
    var start = Math.ceil(sorted[Math.floor(sorted.length * 0.1)] * 100) / 100;
    function update(value, from) {
      if (!isFinite(value)) return;
      if (from !== range) range.value = value;
      if (from !== number) number.value = Number(value).toFixed(2);
      setMinScore(Number(value));
    }
    range.addEventListener("input", function () { update(Number(range.value), range); });
    number.addEventListener("input", function () { if (number.value !== "") update(Number(number.value), number); });
    document.getElementById("min-score-show").addEventListener("click", function () {
      resetFilters();
      document.getElementById("f-below").value = number.value;
      applyFilters();
      document.getElementById("documents").scrollIntoView();
    });
    update(start, null);
  }

  // What `publish --min-score X` would drop: pairs scored below X, and pairs with no score.
  function setMinScore(x) {
    var below = scores.filter(function (s) { return s < x; }).length;
    var unscored = PAIRS.length - scores.length;
    var dropped = below + unscored;
    var pct = PAIRS.length ? ((100 * dropped) / PAIRS.length).toFixed(1) : "0";
    var text = "--min-score " + x.toFixed(2) + " drops " + dropped + " of " + plural(PAIRS.length, "pair") + " (" + pct + "%)";
    if (unscored) text += ": " + below + " below it, " + unscored + " without a score";
    document.getElementById("min-score-drops").textContent = text;
    var pos = PAD.l + ((Math.max(scoreLo, Math.min(scoreHi, x)) - scoreLo) / (scoreHi - scoreLo)) * (WIDE - PAD.l - PAD.r);
    scoreMarker.setAttribute("x1", pos); scoreMarker.setAttribute("x2", pos);
    scoreShade.setAttribute("width", Math.max(0, pos - PAD.l));
  }

  function renderFlagChart() {
    var box = document.getElementById("flag-chart");
    if (!flagKinds.length) { box.appendChild(el("p", "empty", "No pair is flagged.")); return; }
    var rowH = 22, labelW = 110, h = flagKinds.length * rowH + 6, w = 320;
    var svg = svgEl("svg", { viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": "flags by kind" });
    var max = flagCounts[flagKinds[0]];
    flagKinds.forEach(function (f, i) {
      var y = 3 + i * rowH, bw = ((w - labelW - 40) * flagCounts[f]) / max;
      svg.appendChild(svgEl("text", { x: labelW - 6, y: y + 14, "text-anchor": "end" }, f));
      var bar = svgEl("rect", { x: labelW, y: y + 3, width: Math.max(1, bw), height: rowH - 8, fill: "#e0a030", "class": "bar" });
      bar.appendChild(svgEl("title", {}, flagCounts[f] + " pairs flagged " + f));
      svg.appendChild(bar);
      svg.appendChild(svgEl("text", { x: labelW + bw + 4, y: y + 14 }, flagCounts[f]));
    });
    box.appendChild(svg);
  }

  function renderRatioChart() {
    var box = document.getElementById("ratio-chart");
    if (!ratios.length) { box.appendChild(el("p", "empty", "No pairs yet.")); return; }
    var hi = 8; // 8 and above share the last bin
    box.appendChild(barChart(histogram(ratios, 0, hi, 24), 0, hi, "English/Japanese length ratio", NARROW, 110));
  }

  // ---- filters and documents --------------------------------------------------------
  var filtered = [];
  var page = 0;

  function currentFilter() {
    var below = document.getElementById("f-below").value;
    return {
      flagged: document.getElementById("f-flagged").checked,
      below: below === "" ? null : Number(below),
      flag: document.getElementById("f-flag").value,
      query: document.getElementById("f-search").value.trim().toLowerCase(),
    };
  }

  function isActive(f) { return f.flagged || f.below !== null || f.flag !== "" || f.query !== ""; }

  function matches(pair, f) {
    var flags = pair[FLAGS] || [];
    if (f.flagged && !flags.length) return false;
    if (f.below !== null && !(hasScore(pair) && pair[SCORE] < f.below)) return false;
    if (f.flag !== "" && flags.indexOf(f.flag) < 0) return false;
    if (f.query !== "" && pair[JA].toLowerCase().indexOf(f.query) < 0 && pair[EN].toLowerCase().indexOf(f.query) < 0) return false;
    return true;
  }

  function applyFilters() {
    var f = currentFilter();
    filtered = [];
    if (isActive(f)) {
      PAIRS.forEach(function (item) { if (matches(item.pair, f)) filtered.push(item); });
    } else {
      // Unfiltered, documents without sentences are listed too.
      DOCS.forEach(function (doc, d) {
        if (!doc.pairs.length) filtered.push({ doc: d, pair: null });
        doc.pairs.forEach(function (pair) { filtered.push({ doc: d, pair: pair }); });
      });
    }
    var shown = filtered.filter(function (item) { return item.pair; }).length;
    document.getElementById("f-count").textContent = isActive(f)
      ? "Showing " + shown + " of " + plural(PAIRS.length, "pair")
      : plural(PAIRS.length, "pair") + " in " + plural(DOCS.length, "document");
    page = 0;
    renderPage();
  }

  function resetFilters() {
    document.getElementById("f-flagged").checked = false;
    document.getElementById("f-below").value = "";
    document.getElementById("f-flag").value = "";
    document.getElementById("f-search").value = "";
  }

  function renderPager(box) {
    clear(box);
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE_SIZE));
    if (pages === 1) return;
    var prev = el("button", null, "← Previous"), next = el("button", null, "Next →");
    prev.type = next.type = "button";
    prev.disabled = page === 0; next.disabled = page >= pages - 1;
    prev.addEventListener("click", function () { page -= 1; renderPage(true); });
    next.addEventListener("click", function () { page += 1; renderPage(true); });
    box.appendChild(prev);
    box.appendChild(el("span", null, "page " + (page + 1) + " of " + pages));
    box.appendChild(next);
  }

  function renderPage(scroll) {
    renderPager(document.getElementById("pager-top"));
    renderPager(document.getElementById("pager-bottom"));
    var list = clear(document.getElementById("document-list"));
    var items = filtered.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    if (!items.length) list.appendChild(el("p", "empty", DOCS.length ? "No pair matches these filters." : "No documents yet."));
    var body = null, lastDoc = -1, lastParagraph = -1;
    var before = page > 0 ? filtered[page * PAGE_SIZE - 1] : null;
    items.forEach(function (item, i) {
      if (item.doc !== lastDoc) {
        var section = documentSection(DOCS[item.doc], i === 0 && before !== null && before.doc === item.doc);
        list.appendChild(section);
        body = section.querySelector(".doc-body");
        lastDoc = item.doc; lastParagraph = -1;
      }
      if (!item.pair) { body.appendChild(el("div", "empty", "This document has no sentences.")); return; }
      if (item.pair[PARAGRAPH] !== lastParagraph) {
        lastParagraph = item.pair[PARAGRAPH];
        var p = el("div", "paragraph", "paragraph " + lastParagraph + (item.pair[LOCATOR] ? " · " + item.pair[LOCATOR] : ""));
        body.appendChild(p);
      }
      body.appendChild(pairRow(DOCS[item.doc], item.pair));
    });
    if (scroll) document.getElementById("documents").scrollIntoView();
  }

  function documentSection(doc, continued) {
    var section = el("article", "doc");
    section.dataset.doc = doc.id;
    var head = el("div", "doc-head");
    head.appendChild(el("div", "doc-id", doc.id + (doc.title ? " — " + doc.title : "") + (continued ? " (continued)" : "")));
    head.appendChild(el("div", "doc-source", doc.source + " · " + doc.format + " · " +
      plural(doc.num_paragraphs || 0, "paragraph") + ", " + plural(doc.num_sentences || 0, "sentence")));
    [["summary_en", "English summary"], ["summary_ja", "Japanese summary"], ["summary_ja_en", "Japanese summary, translated"]]
      .forEach(function (s) {
        if (doc[s[0]] === null || doc[s[0]] === undefined) return;
        var p = el("p", "summary " + s[0].replace(/_/g, "-"));
        p.appendChild(el("span", "what", s[1]));
        var text = el("span", "text", doc[s[0]]);
        if (s[0] === "summary_ja") text.lang = "ja";
        p.appendChild(text);
        head.appendChild(p);
      });
    if (doc.meta) head.appendChild(el("div", "doc-source", "meta: " + JSON.stringify(doc.meta)));
    var scanned = doc.meta && doc.meta.pages_without_text;
    if (scanned && scanned.length) {
      // Said in words: a page left out of the translation must not hide in the meta line.
      head.appendChild(el("div", "doc-source pages-without-text", "not translated: " +
        (scanned.length === 1 ? "page " : "pages ") + scanned.join(", ") + " (no text layer, scanned?)"));
    }
    section.appendChild(head);
    section.appendChild(el("div", "doc-body"));
    return section;
  }

  function sourceText(doc, pair) {
    return doc.source + " · paragraph " + pair[PARAGRAPH] + ", sentence " + pair[SENTENCE] +
      " · characters " + pair[START] + "–" + pair[END] + (pair[LOCATOR] ? " · " + pair[LOCATOR] : "") +
      " · score " + (hasScore(pair) ? pair[SCORE].toFixed(4) : "none");
  }

  function pairRow(doc, pair) {
    var flags = pair[FLAGS] || [];
    var row = el("div", "pair" + (flags.length ? " flagged" : ""));
    row.dataset.doc = doc.id;
    row.dataset.paragraph = pair[PARAGRAPH];
    row.dataset.sentence = pair[SENTENCE];
    row.title = sourceText(doc, pair);
    var colour = scoreColour(pair[SCORE]);
    if (colour) row.style.borderLeftColor = colour;
    var ja = el("div", "ja", pair[JA]);
    ja.lang = "ja";
    row.appendChild(ja);
    row.appendChild(el("div", "en", pair[EN]));
    var marks = el("div", "marks");
    var score = el("span", "score" + (colour ? "" : " none"), hasScore(pair) ? pair[SCORE].toFixed(2) : "no score");
    if (colour) score.style.background = colour;
    marks.appendChild(score);
    flags.forEach(function (f) { marks.appendChild(el("span", "flag", f)); });
    row.appendChild(marks);
    row.addEventListener("click", function () {
      var open = row.querySelector(".source");
      if (open) { row.removeChild(open); return; }
      row.appendChild(el("div", "source", sourceText(doc, pair)));
    });
    return row;
  }

  function renderFilters() {
    var select = document.getElementById("f-flag");
    flagKinds.forEach(function (f) {
      var o = el("option", null, f + " (" + flagCounts[f] + ")");
      o.value = f;
      select.appendChild(o);
    });
    ["f-flagged", "f-flag"].forEach(function (id) { document.getElementById(id).addEventListener("change", applyFilters); });
    ["f-below", "f-search"].forEach(function (id) { document.getElementById(id).addEventListener("input", applyFilters); });
    document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); });
    document.getElementById("f-clear").addEventListener("click", function () { resetFilters(); applyFilters(); });
    document.querySelectorAll(".swatch[data-score]").forEach(function (s) { s.style.background = scoreColour(Number(s.dataset.score)); });
  }

  function renderErrors() {
    var box = document.getElementById("error-list");
    if (!RUN.errors.length) { box.appendChild(el("p", "empty", "No errors.")); return; }
    var t = table(RUN.errors.map(function (e) { return [e.error || "error", e.message]; }), ["error", "message"]);
    t.className = "errors";
    box.appendChild(t);
    if (RUN.errors_total > RUN.errors.length) {
      box.appendChild(el("p", "empty", "The first " + RUN.errors.length + " of " + RUN.errors_total + " errors; errors.jsonl lists them all."));
    }
  }

  renderStatus();
  renderCounts();
  renderTables();
  renderScoreChart();
  renderFlagChart();
  renderRatioChart();
  renderFilters();
  renderErrors();
  applyFilters();
  document.body.dataset.ready = "true";
})();
