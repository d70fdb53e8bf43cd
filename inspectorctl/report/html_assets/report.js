/* inspectorctl HTML report: sortable, filterable tables and the findings filter.
 * Data comes only from the JSON block (parsed with JSON.parse from its textContent) and reaches
 * the page only through textContent, attribute values and DOM nodes: never innerHTML. */
(function () {
  "use strict";

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function compare(a, b, numeric) {
    if (numeric) {
      var x = (a === null || a === "") ? -Infinity : Number(a);
      var y = (b === null || b === "") ? -Infinity : Number(b);
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return String(a).localeCompare(String(b), undefined, {numeric: true, sensitivity: "base"});
  }

  function renderTable(spec) {
    var mount = document.getElementById(spec.id);
    if (!mount) { return; }
    var cols = spec.columns;
    var state = {col: spec.sort === undefined ? 0 : spec.sort, dir: spec.desc ? -1 : 1};
    var controls = el("div", null, "controls");
    var input = el("input", null, "filter");
    input.type = "search";
    input.placeholder = "Filter " + spec.label;
    input.setAttribute("aria-label", "Filter " + spec.label);
    controls.appendChild(input);
    var select = null;
    if (spec.select !== undefined && spec.select !== null) {
      select = el("select", null, "select");
      select.setAttribute("aria-label", cols[spec.select].label);
      select.appendChild(el("option", "any " + cols[spec.select].label.toLowerCase()));
      select.options[0].value = "";
      var seen = {};
      spec.rows.forEach(function (r) { seen[String(r[spec.select])] = true; });
      Object.keys(seen).sort().forEach(function (v) {
        var o = el("option", v);
        o.value = v;
        select.appendChild(o);
      });
      controls.appendChild(select);
    }
    var count = el("span", "", "count");
    controls.appendChild(count);
    var table = el("table", null, "data");
    var thead = el("thead");
    var hrow = el("tr");
    var ths = cols.map(function (c, i) {
      var th = el("th", c.label, c.num ? "num" : "");
      th.setAttribute("scope", "col");
      th.tabIndex = 0;
      function sortHere() {
        if (state.col === i) { state.dir = -state.dir; } else { state.col = i; state.dir = c.num ? -1 : 1; }
        draw();
      }
      th.addEventListener("click", sortHere);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { sortHere(); } });
      hrow.appendChild(th);
      return th;
    });
    thead.appendChild(hrow);
    table.appendChild(thead);
    var tbody = el("tbody");
    table.appendChild(tbody);
    mount.appendChild(controls);
    mount.appendChild(table);

    function draw() {
      var q = input.value.trim().toLowerCase();
      var sv = select ? select.value : "";
      var rows = spec.rows.filter(function (r) {
        if (sv !== "" && String(r[spec.select]) !== sv) { return false; }
        if (q === "") { return true; }
        return r.some(function (c) { return String(c).toLowerCase().indexOf(q) >= 0; });
      });
      var numeric = !!cols[state.col].num;
      rows.sort(function (a, b) {
        var d = compare(a[state.col], b[state.col], numeric) * state.dir;
        return d !== 0 ? d : compare(a[0], b[0], false);
      });
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) {
        var tr = el("tr");
        r.forEach(function (v, i) {
          var td = el("td", v === null ? "" : v, cols[i].num ? "num" : "");
          if (cols[i].mark) { td.setAttribute("data-v", String(v)); }
          tr.appendChild(td);
        });
        frag.appendChild(tr);
      });
      tbody.replaceChildren(frag);
      ths.forEach(function (th, i) {
        if (i === state.col) {
          th.setAttribute("aria-sort", state.dir === 1 ? "ascending" : "descending");
        } else {
          th.removeAttribute("aria-sort");
        }
      });
      count.textContent = rows.length + " of " + spec.rows.length;
    }

    input.addEventListener("input", draw);
    if (select) { select.addEventListener("change", draw); }
    draw();
  }

  function findingsFilter() {
    var text = document.getElementById("finding-filter");
    var sev = document.getElementById("finding-severity");
    var st = document.getElementById("finding-status");
    var count = document.getElementById("finding-count");
    if (!text) { return; }
    var items = Array.prototype.slice.call(document.querySelectorAll("details.finding"));
    function draw() {
      var q = text.value.trim().toLowerCase();
      var shown = 0;
      items.forEach(function (d) {
        var ok = (sev.value === "" || d.getAttribute("data-severity") === sev.value) &&
          (st.value === "" || d.getAttribute("data-status") === st.value) &&
          (q === "" || d.textContent.toLowerCase().indexOf(q) >= 0);
        d.hidden = !ok;
        if (ok) { shown += 1; }
      });
      count.textContent = shown + " of " + items.length;
    }
    text.addEventListener("input", draw);
    sev.addEventListener("change", draw);
    st.addEventListener("change", draw);
    draw();
  }

  var data = JSON.parse(document.getElementById("report-data").textContent);
  data.tables.forEach(renderTable);
  findingsFilter();
  document.documentElement.setAttribute("data-ready", "1");
}());
