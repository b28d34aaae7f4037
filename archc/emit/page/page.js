// archc's explorable diagram (archc/emit/html.py inlines this into the page). The module tree
// comes as nested records; only the open part is laid out, so a huge network opens as fast as
// a small one. The layout is layered by construction: a sequence stacks, a join puts its
// branches side by side, an open block is a box around its children.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const ALL = [];
  const open = new Set();
  const $ = (id) => document.getElementById(id);
  const view = $("view"), scene = $("scene"), panel = $("panel");
  const GAP = 30, PAD = 10, TITLE = 18, BOX = 26, BOX2 = 38, FORK = 6;
  let heat = "", selected = null, found = null, maxLevel = 0;
  let T = { x: 0, y: 0, k: 1 };
  const placed = new Map();  // record id -> {x, y, w, h} of its drawn box or cluster

  // ------------------------------------------------------------------ the tree
  function index(r, up, level) {
    r.id = ALL.length; ALL.push(r); r.up = up; r.lv = level;
    if (r.c) {
      maxLevel = Math.max(maxLevel, level);
      for (const c of r.c) index(c, r, r.k === "run" ? level : level + 1);
    }
    if (r.b) for (const br of r.b) for (const c of br) index(c, r, level);
  }
  // no tree: the network could not be expanded at all (archc/emit/explore.py placed the
  // failing node in the tree otherwise)
  const root = D.root || { k: "network", n: "", t: D.name, p: 0, m: 0, v: 0, c: D.errors.length
    ? [{ k: "error", n: "error", t: "error[" + D.errors[0].code + "]", op: "error",
         s: D.errors[0].s, p: 0, m: 0, v: 0 }] : [] };
  index(root, null, 0);
  const isOpen = (r) => !!r.c && (r === root || open.has(r.id));

  function openTo(depth) {
    open.clear();
    for (const r of ALL) if (r.c && r.lv < depth) open.add(r.id);
  }

  // ------------------------------------------------------------------ text
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
  const shape = (s) => (s == null ? "?" : s.join("x"));
  const num = (n) => Number(n).toLocaleString("en-US");
  function short(n) {
    for (const [v, u] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]]) {
      if (n >= v) return (n / v).toFixed(1) + u;
    }
    return String(n);
  }
  function bytes(n) {
    for (const [v, u] of [[1e12, "TB"], [1e9, "GB"], [1e6, "MB"], [1e3, "KB"]]) {
      if (n >= v) return (n / v).toFixed(1) + " " + u;
    }
    return n + " B";
  }
  const METRIC = { p: "params", m: "MACs", v: "memory" };
  const metricText = (r, key) => (key === "v" ? bytes(4 * r.v) : short(r[key]) + " " + METRIC[key]);
  const textW = (s) => s.length * 6.2 + 16;
  const leafName = (r) => (r.up && r.up.n && r.n.startsWith(r.up.n + ".") ? r.n.slice(r.up.n.length + 1) : r.n);

  function lines(r) {
    if (r.k === "io") return r.lines;
    if (r.c) return [leafName(r) + (r.k === "block" || r.k === "run" ? ": " + r.t : ""),
                     metricText(r, heat || "p")];
    if (r.k === "layer" && heat) return [r.t, metricText(r, heat)];
    return [r.t];
  }

  // ------------------------------------------------------------------ layout
  // measure(r) -> a layout node {r, w, h, ...}; place() then gives it coordinates.
  function measure(r) {
    if (r.k === "join") return measureJoin(r);
    if (isOpen(r)) {
      const inner = measureSeq(r.c);
      return { r, kind: "cluster", inner, w: Math.max(inner.w, textW(clusterTitle(r))) + 2 * PAD,
               h: inner.h + TITLE + 2 * PAD };
    }
    const ls = lines(r);
    return { r, kind: "box", lines: ls, w: Math.max(60, ...ls.map(textW)),
             h: ls.length > 1 ? BOX2 : BOX };
  }
  function measureSeq(items) {
    const parts = items.map(measure);
    let w = 16, h = 0;
    for (const p of parts) { w = Math.max(w, p.w); h += p.h; }
    return { parts, w, h: h + GAP * Math.max(0, parts.length - 1) };
  }
  function measureJoin(r) {
    const branches = r.b.map(measureSeq);
    const label = r.t || r.op;
    const node = { w: label.length > 2 ? textW(label) : 26, h: 24 };
    let bw = 0, bh = 0;
    for (const b of branches) { bw += b.w; bh = Math.max(bh, b.h); }
    bw += 20 * Math.max(0, branches.length - 1);
    return { r, kind: "join", branches, node, bw, bh, w: Math.max(bw, node.w),
             h: FORK + GAP + bh + GAP + node.h };
  }
  const clusterTitle = (r) => r.n + (r.k === "block" || r.k === "run" ? ": " + r.t : "");

  // place(L, cx, top, out) appends SVG to out and returns {ix, iy, ox, oy}: where edges enter
  // and leave it.
  function place(L, cx, top, out) {
    const r = L.r;
    if (L.kind === "box") {
      const x = cx - L.w / 2;
      placed.set(r.id, { x, y: top, w: L.w, h: L.h });
      const cls = "node " + (r.k === "error" ? "error" : r.c ? "block" : r.k);
      const fill = heatColour(r) || r.f || (r.k === "io" ? "#ffffff" : r.c ? "" : "#f4f4f4");
      out.push(`<g class="${cls}" data-id="${r.id}" data-name="${esc(r.n)}">`);
      if (r.k === "io") out.push(`<ellipse cx="${cx}" cy="${top + L.h / 2}" rx="${L.w / 2}" ry="${L.h / 2}" fill="#fff"/>`);
      else out.push(`<rect x="${x}" y="${top}" width="${L.w}" height="${L.h}" rx="5"${fill ? ` style="fill:${fill}"` : ""}/>`);
      L.lines.forEach((t, i) => out.push(
        `<text x="${cx}" y="${top + 17 + i * 13}" text-anchor="middle">${esc(t)}</text>`));
      out.push(`<title>${esc(r.n || r.t)}</title></g>`);
      return { ix: cx, iy: top, ox: cx, oy: top + L.h };
    }
    if (L.kind === "cluster") {
      const x = cx - L.w / 2;
      placed.set(r.id, { x, y: top, w: L.w, h: L.h });
      out.push(`<g class="cluster" data-id="${r.id}" data-name="${esc(r.n)}">` +
        `<rect x="${x}" y="${top}" width="${L.w}" height="${L.h}" rx="6"/>` +
        `<g class="title" data-id="${r.id}"><rect x="${x}" y="${top}" width="${L.w}" height="${TITLE}" style="fill:transparent;stroke:none"/>` +
        `<text x="${x + 6}" y="${top + 13}">▾ ${esc(clusterTitle(r))}</text></g></g>`);
      const io = placeSeq(L.inner, cx, top + TITLE + PAD, out);
      return io || { ix: cx, iy: top, ox: cx, oy: top + L.h };
    }
    return placeJoin(L, cx, top, out);
  }
  function placeSeq(S, cx, top, out) {
    let first = null, prev = null, prevR = null, y = top;
    for (const p of S.parts) {
      const io = place(p, cx, y, out);
      if (prev) edge(out, prev.ox, prev.oy, io.ix, io.iy, shape(prevR.o));
      if (!first) first = io;
      prev = io; prevR = p.r; y += p.h + GAP;
    }
    return first ? { ix: first.ix, iy: first.iy, ox: prev.ox, oy: prev.oy } : null;
  }
  function placeJoin(L, cx, top, out) {
    const r = L.r, fy = top + FORK / 2;
    out.push(`<circle class="fork" cx="${cx}" cy="${fy}" r="3"/>`);
    const ny = top + FORK + GAP + L.bh + GAP;
    let x = cx - L.bw / 2;
    const ends = [];
    L.branches.forEach((b, i) => {
      const bx = x + b.w / 2;
      const io = placeSeq(b, bx, top + FORK + GAP, out);
      const bin = r.bi ? r.bi[i] : r.i;
      if (io) {
        edge(out, cx, fy, io.ix, io.iy, shape(bin) === shape(r.i) ? "" : shape(bin));
        const last = b.parts[b.parts.length - 1].r;
        ends.push([io.ox, io.oy, shape(last.o)]);
      } else ends.push([cx, fy, ""]);
      x += b.w + 20;
    });
    const nx = cx - L.node.w / 2;
    placed.set(r.id, { x: nx, y: ny, w: L.node.w, h: L.node.h });
    out.push(`<g class="node join" data-id="${r.id}" data-name="${esc(r.n)}">` +
      (L.node.w > 26 ? `<rect x="${nx}" y="${ny}" width="${L.node.w}" height="24" rx="12" style="fill:${heatColour(r) || "#fff"}"/>`
                     : `<ellipse cx="${cx}" cy="${ny + 12}" rx="12" ry="12" fill="#fff"/>`) +
      `<text x="${cx}" y="${ny + 16}" text-anchor="middle">${esc(r.t || r.op)}</text><title>${esc(r.n)}</title></g>`);
    for (const [ex, ey, label] of ends) edge(out, ex, ey, cx, ny, label);
    return { ix: cx, iy: top, ox: cx, oy: ny + L.node.h };
  }
  function edge(out, x1, y1, x2, y2, label) {
    out.push(`<path class="edge" d="M${x1},${y1} L${x2},${y2}"/>`);
    if (label) out.push(`<text class="shape" x="${(x1 + x2) / 2 + 5}" y="${(y1 + y2) / 2 + 3}">${esc(label)}</text>`);
  }

  // ------------------------------------------------------------------ heat map
  let heatMax = 1;
  function heatColour(r) {
    if (!heat || r.k === "io" || r.k === "error") return "";
    const t = Math.log1p(r[heat] || 0) / Math.log1p(heatMax);
    const c = (a, b) => Math.round(a + (b - a) * t);
    return `rgb(${c(255, 215)},${c(255, 48)},${c(255, 31)})`;
  }
  function visible(r, out) {
    if (r.k === "join") { out.push(r); for (const b of r.b) for (const c of b) visible(c, out); }
    else if (isOpen(r)) for (const c of r.c) visible(c, out);
    else out.push(r);
    return out;
  }

  // ------------------------------------------------------------------ drawing
  function topSeq() {
    const io = (t, s, n) => ({ k: "io", n, t, lines: [t, shape(s)], o: s, id: -1 });
    return [io("input", D.input, "@input"), ...root.c, io("output", D.output, "@output")];
  }
  function draw() {
    heatMax = 1;
    if (heat) for (const r of visible(root, [])) heatMax = Math.max(heatMax, r[heat] || 0);
    placed.clear();
    const S = measureSeq(topSeq());
    const out = [`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>`];
    placeSeq(S, S.w / 2 + 20, 20, out);
    scene.innerHTML = out.join("");
    scene.dataset.w = S.w + 40; scene.dataset.h = S.h + 40;
    mark();
    $("info").textContent = `${num(visible(root, []).length)} of ${num(ALL.length)} nodes shown` +
      (heat ? ` · heat: ${METRIC[heat]} (log scale, max ${heat === "v" ? bytes(4 * heatMax) : short(heatMax)})` : "");
  }
  function mark() {
    for (const g of scene.querySelectorAll(".selected, .found")) g.classList.remove("selected", "found");
    for (const [r, cls] of [[selected, "selected"], [found, "found"]]) {
      if (!r) continue;
      const g = scene.querySelector(`[data-id="${r.id}"]`);
      if (g) g.classList.add(cls);
    }
  }
  function apply() { scene.setAttribute("transform", `translate(${T.x},${T.y}) scale(${T.k})`); }
  function fit() {
    const w = +scene.dataset.w, h = +scene.dataset.h, W = view.clientWidth, H = view.clientHeight;
    const k = Math.min(1.5, W / w, H / h);
    T = { k, x: (W - w * k) / 2, y: Math.max(0, (H - h * k) / 2) };
    apply();
  }
  function centreOn(r) {
    const b = placed.get(r.id);
    if (!b) return;
    const W = view.clientWidth, H = view.clientHeight;
    T.k = Math.max(T.k, 0.8);
    T.x = W / 2 - (b.x + b.w / 2) * T.k; T.y = H / 2 - (b.y + b.h / 2) * T.k;
    apply();
  }
  // keep the clicked node where it was on the screen while the layout around it changes
  function redrawKeeping(r) {
    const before = placed.get(r.id);
    draw();
    const after = placed.get(r.id);
    if (before && after) { T.x += (before.x - after.x) * T.k; T.y += (before.y - after.y) * T.k; }
    apply();
  }
  function initialDepth() {
    const W = Math.max(300, view.clientWidth), H = Math.max(300, view.clientHeight);
    let best = 1;
    for (let d = 1; d <= maxLevel + 1; d++) {
      openTo(d);
      const S = measureSeq(topSeq());
      if (d > 1 && Math.min(W / S.w, H / S.h) < 0.5) break;
      best = d;
    }
    openTo(best);
    return best;
  }

  // ------------------------------------------------------------------ panel
  function src(s) {
    if (!s) return "";
    const [f, line, col] = s, path = D.files[f];
    const text = (D.sources[f] || "").split("\n")[line - 1];
    return `<div class="where">${esc(path)}:${line}:${col}</div>` +
      (text !== undefined ? `<pre class="src">${esc(text)}</pre>` : "");
  }
  const row = (k, v) => `<tr><td>${k}</td><td>${v}</td></tr>`;
  function showPanel(r) {
    const h = [`<h3>${esc(r.n || D.name)}</h3>`];
    if (r.k === "error" || r.k === "io") {
      if (r.k === "io") h.push(`<table>${row("shape", shape(r.o))}</table>`);
      for (const d of r.k === "error" ? D.errors : []) h.push(diag(d));
      panel.innerHTML = h.join(""); return;
    }
    const t = ["<table>", row("kind", r.k), row("op", esc(r.op))];
    if (r.n) t.push(row("module", `<code>model.${esc(r.n)}</code>`));
    if (r.a) t.push(row("arguments", Object.entries(r.a).map(([k, v]) => `${esc(k)}=${esc(JSON.stringify(v))}`).join(", ")));
    t.push(row("input", shape(r.i)), row("output", shape(r.o)),
      row("params", num(r.p)), row("MACs", num(r.m)), row("FLOPs", num(2 * r.m)),
      row("memory", `${bytes(4 * r.v)} of outputs, ${bytes(4 * r.p)} of weights (float32)`));
    if (r.c) t.push(row("contains", `${num(r.c.length)} ${r.k === "run" ? "instances" : "items"}`));
    t.push("</table>");
    h.push(t.join(""), `<h4>source</h4>`, src(r.s));
    const chain = [];
    for (let u = r.up; u && u !== root; u = u.up) if (u.k !== "run" && u.k !== "join") chain.push(u);
    if (chain.length) {
      h.push("<h4>made by</h4>");
      for (const u of chain) h.push(`<div>in <b>${esc(u.n)}</b>${u.k === "block" ? ": " + esc(u.t) : ""}</div>${src(u.s)}`);
    }
    panel.innerHTML = h.join("");
  }
  function diag(d) {
    return `<div class="diag"><div><span class="code">error[${esc(d.code)}]</span> ${esc(d.message)}</div>` +
      src(d.s) + (d.hint ? `<div>hint: ${esc(d.hint)}</div>` : "") +
      d.notes.map((n) => `<div class="where">note: ${esc(n.message)}</div>${src(n.s)}`).join("") + "</div>";
  }
  function select(r) { selected = r; showPanel(r); mark(); }

  // ------------------------------------------------------------------ search
  let hits = [];
  function search(q) {
    q = q.trim().toLowerCase();
    const res = $("results");
    hits = [];
    if (q) {
      for (const r of ALL) {
        if (r === root) continue;
        if ((r.n || "").toLowerCase().includes(q) || (r.t || "").toLowerCase().includes(q) ||
            (r.op || "").toLowerCase() === q || shape(r.o).includes(q)) {
          hits.push(r);
          if (hits.length >= 200) break;
        }
      }
    }
    res.innerHTML = hits.map((r, i) => `<div class="hit${i ? "" : " first"}" data-id="${r.id}">${esc(r.n)}` +
      ` <small>${esc(r.t)} · ${shape(r.o)}</small></div>`).join("");
  }
  function reveal(r) {
    for (let u = r.up; u; u = u.up) if (u.c) open.add(u.id);
    found = r.k === "error" ? null : r;
    draw(); select(r); centreOn(r);
    $("results").innerHTML = "";
  }

  // ------------------------------------------------------------------ events
  function target(e) {
    const g = e.target.closest("[data-id]");
    return g ? ALL[+g.dataset.id] : null;
  }
  let drag = null, moved = false;
  view.addEventListener("mousedown", (e) => { drag = [e.clientX, e.clientY, T.x, T.y]; moved = false; view.classList.add("dragging"); });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag[0], dy = e.clientY - drag[1];
    if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
    T.x = drag[2] + dx; T.y = drag[3] + dy; apply();
  });
  window.addEventListener("mouseup", () => { drag = null; view.classList.remove("dragging"); });
  view.addEventListener("wheel", (e) => {
    e.preventDefault();
    const f = Math.exp(-e.deltaY * 0.0015), b = view.getBoundingClientRect();
    const mx = e.clientX - b.left, my = e.clientY - b.top;
    T.x = mx - (mx - T.x) * f; T.y = my - (my - T.y) * f; T.k *= f; apply();
  }, { passive: false });
  view.addEventListener("click", (e) => {
    if (moved) return;
    const r = target(e);
    if (!r) return;
    const title = e.target.closest(".title");
    if (r.c && (title || !isOpen(r))) {  // a collapsed block opens; an open one's title closes it
      if (isOpen(r)) open.delete(r.id); else open.add(r.id);
      selected = r; redrawKeeping(r); select(r);
    } else select(r);
  });
  $("search").addEventListener("input", (e) => search(e.target.value));
  $("search").addEventListener("keydown", (e) => { if (e.key === "Enter" && hits.length) reveal(hits[0]); });
  $("results").addEventListener("click", (e) => {
    const h = e.target.closest(".hit");
    if (h) reveal(ALL[+h.dataset.id]);
  });
  $("heat").addEventListener("change", (e) => { heat = e.target.value; draw(); apply(); });
  $("fit").addEventListener("click", () => fit());
  $("collapse").addEventListener("click", () => { openTo(1); draw(); fit(); });
  $("expand").addEventListener("click", () => {
    let d = 1;
    for (const r of ALL) if (r.c && isOpen(r)) d = Math.max(d, r.lv + 2);
    openTo(d); draw(); fit();
  });
  window.addEventListener("resize", () => fit());

  $("name").textContent = D.name;
  document.title = D.name + " · archc";
  // --depth N opens N levels, --depth all every one; else the deepest that fits the window
  const depth = D.depth === 0 ? maxLevel + 1 : D.depth || initialDepth();
  if (D.depth != null) openTo(depth);
  draw(); fit();
  const err = ALL.find((r) => r.k === "error");
  if (err) { reveal(err); } else select(root);
  view.dataset.depth = depth;
  document.body.dataset.readyMs = performance.now().toFixed(1);  // since navigation began
  document.body.dataset.ready = "1";
})();
