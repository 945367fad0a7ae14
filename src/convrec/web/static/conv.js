// The convolution playground: one request to /api/conv/playground returns every number
// (padded grid, kernel as applied, output, im2col, Toeplitz); this file only draws them.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const $ = (id) => document.getElementById(id);
  const state = {
    image: { mnist_index: 0 }, sample: null, kernelName: "top_edge", edited: false,
    result: null, current: 0, filled: -1, timer: null, seq: 0, namedKernels: [],
  };
  let debounce = null;

  // ------------------------------------------------------------------ kernels and presets
  const channels = () => parseInt($("channels").value, 10);
  const ksize = () => parseInt($("ksize").value, 10);
  const CHANNEL_NAMES = ["red", "green", "blue"];

  function kernelGrids(size, nch, values) {
    const holder = $("kernel-grids");
    holder.replaceChildren();
    for (let c = 0; c < nch; c++) {
      const box = document.createElement("div");
      box.className = "kernel-box";
      if (nch > 1) {
        const h = document.createElement("div"); h.className = "muted";
        h.textContent = CHANNEL_NAMES[c] + " slice"; box.appendChild(h);
      }
      const table = document.createElement("table"); table.className = "kernel";
      for (let i = 0; i < size; i++) {
        const tr = table.insertRow();
        for (let j = 0; j < size; j++) {
          const input = document.createElement("input");
          input.type = "number"; input.step = "any";
          input.value = String(values ? values[c][i][j] : 0);
          input.dataset.c = c; input.dataset.i = i; input.dataset.j = j;
          input.setAttribute("aria-label", (nch > 1 ? CHANNEL_NAMES[c] + " " : "") +
            "kernel row " + (i + 1) + " column " + (j + 1));
          input.addEventListener("input", () => { state.edited = true; showKernelName(); schedule(); });
          tr.insertCell().appendChild(input);
        }
      }
      box.appendChild(table); holder.appendChild(box);
    }
    $("kernel-shape").textContent = "(" + (nch > 1 ? nch + "×" : "") + size + "×" + size + ")";
  }

  function kernelValues() {
    const size = ksize(), nch = channels();
    const out = [];
    for (let c = 0; c < nch; c++) {
      out.push([]);
      for (let i = 0; i < size; i++) out[c].push(new Array(size).fill(0));
    }
    $("kernel-grids").querySelectorAll("input").forEach((input) => {
      const v = parseFloat(input.value);
      out[+input.dataset.c][+input.dataset.i][+input.dataset.j] = Number.isFinite(v) ? v : 0;
    });
    return out;
  }

  function showKernelName() {
    $("kernel-name").textContent = state.edited ? "your kernel (edited from " + state.kernelName + ")"
                                                : state.kernelName;
  }

  const filled = (k, f) => Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => f(i, j)));
  const round4 = (v) => Math.round(v * 10000) / 10000;

  function presetsFor(k) {
    // named kernels of this size (fastai's edges and the classics), then ones made for any size
    const list = state.namedKernels.filter((n) => n.values.length === k && n.values[0].length === k)
      .map((n) => ({ name: n.name, values: n.values }));
    const mid = (k - 1) / 2;
    const side = (i) => (i < mid ? -1 : i > mid ? 1 : 0);
    const have = new Set(list.map((p) => p.name));
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const add = (name, values) => { // a made kernel equal to a named one is not listed twice
      if (!have.has(name) && !list.some((p) => same(p.values, values))) { list.push({ name, values }); have.add(name); }
    };
    if (k % 2 === 1) add(k === 3 ? "identity" : "identity " + k + "×" + k, filled(k, (i, j) => (i === mid && j === mid ? 1 : 0)));
    if (k > 1) {
      add("top edge " + k + "×" + k, filled(k, (i) => side(i)));
      add("left edge " + k + "×" + k, filled(k, (_, j) => side(j)));
    }
    add("box blur " + k + "×" + k, filled(k, () => round4(1 / (k * k))));
    if (k === 1) add("double", [[2]]);
    return list;
  }

  function choosePreset(preset) {
    const nch = channels();
    const values = [];
    for (let c = 0; c < nch; c++) values.push(preset.perChannel ? preset.perChannel[c] : preset.values);
    state.kernelName = preset.name; state.edited = false;
    kernelGrids(ksize(), nch, values);
    showKernelName();
    schedule();
  }

  function renderPresets() {
    const holder = $("presets");
    holder.replaceChildren();
    const k = ksize();
    const list = presetsFor(k);
    if (channels() === 3 && k > 1) {
      const zero = filled(k, () => 0);
      const edge = filled(k, (i) => (i < (k - 1) / 2 ? -1 : i > (k - 1) / 2 ? 1 : 0));
      list.push({ name: "red only: top edge " + k + "×" + k, perChannel: [edge, zero, zero] });
      list.push({ name: "average of the colours", perChannel: [0, 1, 2].map(() => filled(k, (i, j) =>
        (k % 2 === 1 && i === (k - 1) / 2 && j === (k - 1) / 2 ? round4(1 / 3) : 0))) });
    }
    list.forEach((p) => {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = p.name; b.dataset.kernel = p.name;
      b.addEventListener("click", () => choosePreset(p));
      holder.appendChild(b);
    });
    return list;
  }

  function resetKernel(preferred) {
    const list = renderPresets();
    const preset = list.find((p) => p.name === preferred) || list.find((p) => p.name.startsWith("top edge")) || list[0];
    choosePreset(preset);
  }

  // ------------------------------------------------------------------ settings and requests
  const int = (id, fallback) => {
    const v = parseInt($(id).value, 10);
    return Number.isFinite(v) ? v : fallback;
  };

  function body() {
    const pad = $("padding").value;
    const op = $("operation").value;
    const b = {
      channels: channels(), kernel: kernelValues(),
      kernel_name: state.edited ? "your kernel" : state.kernelName,
      stride: int("stride", 1), dilation: int("dilation", 1),
      padding: /^\d+$/.test(pad) ? parseInt(pad, 10) : pad,
      padding_mode: $("padding-mode").value,
      true_convolution: op === "convolution", transposed: op === "transposed",
      output_padding: op === "transposed" ? int("output-padding", 0) : 0,
    };
    if (state.sample) b.sample = state.sample; else b.image = state.image;
    return b;
  }

  function schedule() {
    clearTimeout(debounce);
    debounce = setTimeout(run, 120);
  }

  const LABELS = {
    stride: "Stride", dilation: "Dilation", padding: "Padding", padding_mode: "Padding mode",
    output_padding: "Output padding", kernel: "Kernel", settings: "These settings",
    channels: "Channels", pixels: "The image", png_base64: "The image", mnist_index: "MNIST digit",
  };

  /** An API error in plain words: "Stride: should be at most 4 (you gave 9)". */
  function plainError(e) {
    if (!Array.isArray(e.detail)) return e.message;
    return e.detail.map((d) => {
      const loc = (d.loc || []).filter((p) => p !== "body" && typeof p === "string");
      const field = loc.length ? LABELS[loc[loc.length - 1]] || loc[loc.length - 1] : "";
      let msg = String(d.msg || "").replace(/^Value error, /, "").replace(/^Input should be /, "should be ");
      const simple = typeof d.input === "number" || (typeof d.input === "string" && d.input.length < 30);
      if (simple && /should be/.test(msg)) msg += " (you gave " + d.input + ")";
      return (field && field !== "These settings" ? field + ": " : "") + msg;
    }).join("; ");
  }

  function clearAll(message) {
    stop();
    state.result = null;
    $("conv-error").textContent = message || "";
    ["out-shape", "shape-rows", "shape-cols"].forEach((id) => { $(id).textContent = "–"; });
    ["shape-notes", "products", "checks", "grid-legend", "scale", "edge-maps"].forEach((id) => $(id).replaceChildren());
    ["pixel-sum", "im2col-text", "toeplitz-text", "step-info", "op-title"].forEach((id) => { $(id).textContent = ""; });
    $("pixel-title").textContent = "–";
    $("cell-info").textContent = "";
    ["grid-canvas", "out-canvas", "im2col-canvas", "toeplitz-canvas"].forEach((id) => {
      const c = $(id); c.width = 10; c.height = 10; delete c.dataset.filled;
    });
  }

  async function run() {
    const request = body();
    const key = JSON.stringify(request);
    if (state.result && key === state.shownKey) { // e.g. a "change" after "input": nothing new
      state.seq++; // ...and an answer still on its way is for other settings: drop it
      return;
    }
    const seq = ++state.seq;
    try {
      const r = await api("POST", "/api/conv/playground", request);
      if (seq !== state.seq) return; // a newer request is on its way
      $("conv-error").textContent = "";
      state.result = r;
      state.shownKey = key;
      state.filled = r.output.length * r.output[0].length - 1;
      state.current = 0;
      renderResult();
      renderEdges(seq);
    } catch (e) {
      if (seq !== state.seq) return;
      clearAll(plainError(e));
    }
  }

  // ------------------------------------------------------------------ drawing helpers
  const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));

  /** The diverging scale (blue − · white 0 · red +) of the server, on [−bound, +bound]. */
  function diverging(v, bound) {
    const stops = state.result.colour_scale;
    const t = (Math.max(-1, Math.min(1, v / (bound || 1))) + 1) / 2 * (stops.length - 1);
    const lo = Math.min(Math.floor(t), stops.length - 2);
    const f = t - lo, a = hex(stops[lo]), b = hex(stops[lo + 1]);
    return "rgb(" + a.map((x, i) => Math.round(x * (1 - f) + b[i] * f)).join(",") + ")";
  }

  function cellColour(grid, r, c) {
    if (grid.length === 3) {
      return "rgb(" + [0, 1, 2].map((ch) => Math.round(Math.max(0, Math.min(1, grid[ch][r][c])) * 255)).join(",") + ")";
    }
    const g = Math.round(Math.max(0, Math.min(1, grid[0][r][c])) * 255);
    return "rgb(" + g + "," + g + "," + g + ")";
  }

  const fmt = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const textOn = (ctx, txt, x, y, size, light) => {
    ctx.fillStyle = light ? "#fff" : "#111";
    ctx.font = Math.max(8, Math.floor(size * 0.32)) + "px ui-monospace, monospace";
    ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText(txt, x, y);
  };

  function cellSize(n, room, most) { return Math.max(4, Math.min(most, Math.floor(room / n))); }

  // ------------------------------------------------------------------ the stage
  function outIndex() {
    const r = state.result;
    const w = r.output[0].length;
    return [Math.floor(state.current / w), state.current % w];
  }

  function drawGrid() {
    const r = state.result;
    const grid = r.grid, hg = grid[0].length, wg = grid[0][0].length;
    const cs = cellSize(Math.max(hg, wg), 400, 44);
    const canvas = $("grid-canvas");
    canvas.width = wg * cs; canvas.height = hg * cs;
    canvas.dataset.cell = cs;
    const ctx = canvas.getContext("2d");
    for (let i = 0; i < hg; i++) {
      for (let j = 0; j < wg; j++) {
        ctx.fillStyle = cellColour(grid, i, j);
        ctx.fillRect(j * cs, i * cs, cs, cs);
        const kind = r.cell_kind[i][j];
        if (kind !== 0) { // padding or an inserted zero: hatched, so it reads as "not the input"
          ctx.strokeStyle = kind === 1 ? "rgba(47,111,221,.55)" : "rgba(232,164,0,.7)";
          ctx.lineWidth = 1;
          ctx.save(); ctx.beginPath(); ctx.rect(j * cs, i * cs, cs, cs); ctx.clip();
          ctx.beginPath();
          for (let d = -cs; d < cs; d += Math.max(4, cs / 4)) {
            ctx.moveTo(j * cs + d, i * cs + cs); ctx.lineTo(j * cs + d + cs, i * cs);
          }
          ctx.stroke(); ctx.restore();
        }
        if (cs >= 30 && grid.length === 1) {
          textOn(ctx, fmt(grid[0][i][j]), j * cs + cs / 2, i * cs + cs / 2, cs, grid[0][i][j] < 0.55);
        }
      }
    }
    // the input's own cells, outlined
    const [top, , left] = r.pads;
    const rowsIn = r.source_rows.filter((v) => v >= 0).length;
    const colsIn = r.source_cols.filter((v) => v >= 0).length;
    if (!r.transposed) {
      ctx.strokeStyle = "#2f6fdd"; ctx.lineWidth = 2;
      ctx.strokeRect(Math.max(0, left) * cs + 1, Math.max(0, top) * cs + 1, colsIn * cs - 2, rowsIn * cs - 2);
    }
    // rows and columns the floor drops: the window never reaches them
    const [ho, wo] = [r.output.length, r.output[0].length];
    const kh = r.kernel[0].length, kw = r.kernel[0][0].length;
    const reachR = (ho - 1) * r.stride[0] + (kh - 1) * r.dilation[0] + 1;
    const reachC = (wo - 1) * r.stride[1] + (kw - 1) * r.dilation[1] + 1;
    ctx.fillStyle = "rgba(179,38,30,.35)";
    if (reachR < hg) ctx.fillRect(0, reachR * cs, wg * cs, (hg - reachR) * cs);
    if (reachC < wg) ctx.fillRect(reachC * cs, 0, (wg - reachC) * cs, hg * cs);
    canvas.dataset.droppedRows = hg - reachR; canvas.dataset.droppedCols = wg - reachC;
    // the current window and its taps
    const [oi, oj] = outIndex();
    const r0 = oi * r.stride[0], c0 = oj * r.stride[1];
    ctx.strokeStyle = "#ffd43b"; ctx.lineWidth = 3;
    ctx.strokeRect(c0 * cs, r0 * cs, ((kw - 1) * r.dilation[1] + 1) * cs, ((kh - 1) * r.dilation[0] + 1) * cs);
    ctx.fillStyle = "rgba(255,212,59,.35)";
    for (let u = 0; u < kh; u++) {
      for (let v = 0; v < kw; v++) {
        ctx.fillRect((c0 + v * r.dilation[1]) * cs + 2, (r0 + u * r.dilation[0]) * cs + 2, cs - 4, cs - 4);
      }
    }
    const legend = $("grid-legend");
    legend.replaceChildren();
    const item = (cls, text) => {
      const s = document.createElement("span"); s.className = "key " + cls; s.textContent = text; legend.appendChild(s);
    };
    item("k-input", r.transposed ? "input pixels" : "input (outlined)");
    if (r.cell_kind.some((row) => row.includes(1))) item("k-pad", r.transposed ? "zeros around" : r.padding_mode + " padding (hatched: its real values)");
    if (r.cell_kind.some((row) => row.includes(2))) item("k-ins", "zeros inserted by the stride");
    if (reachR < hg || reachC < wg) item("k-drop", "never visited: the floor drops them");
    item("k-win", "the window");
    $("grid-caption").textContent = (r.transposed ? "input with zeros inserted and around it" : "input with its padding") +
      " (" + hg + "×" + wg + (r.channels === 3 ? ", 3 channels" : "") + ")";
  }

  function drawOutput() {
    const r = state.result;
    const out = r.output, ho = out.length, wo = out[0].length;
    const cs = cellSize(Math.max(ho, wo), 320, 44);
    const canvas = $("out-canvas");
    canvas.width = wo * cs; canvas.height = ho * cs; canvas.dataset.cell = cs;
    canvas.dataset.filled = state.filled + 1;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#eef1f4"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (let n = 0; n <= state.filled; n++) {
      const i = Math.floor(n / wo), j = n % wo;
      ctx.fillStyle = diverging(out[i][j], r.output_bound);
      ctx.fillRect(j * cs, i * cs, cs, cs);
      if (cs >= 30) textOn(ctx, fmt(round4(out[i][j])), j * cs + cs / 2, i * cs + cs / 2, cs, Math.abs(out[i][j]) > 0.7 * r.output_bound);
    }
    const [oi, oj] = outIndex();
    ctx.strokeStyle = "#ffd43b"; ctx.lineWidth = 3;
    ctx.strokeRect(oj * cs + 1.5, oi * cs + 1.5, cs - 3, cs - 3);
    const scale = $("scale");
    scale.replaceChildren();
    const bar = document.createElement("div"); bar.className = "scale-bar";
    bar.style.background = "linear-gradient(to right," + r.colour_scale.join(",") + ")";
    const labels = document.createElement("div"); labels.className = "scale-labels";
    [-r.output_bound, 0, r.output_bound].forEach((v) => {
      const s = document.createElement("span"); s.textContent = fmt(round4(v)); labels.appendChild(s);
    });
    scale.append(bar, labels);
  }

  function drawPixel() {
    const r = state.result;
    const [oi, oj] = outIndex();
    const kh = r.kernel[0].length, kw = r.kernel[0][0].length;
    const r0 = oi * r.stride[0], c0 = oj * r.stride[1];
    $("pixel-title").textContent = "output pixel (" + oi + ", " + oj + ")";
    const holder = $("products");
    holder.replaceChildren();
    const sums = [];
    for (let c = 0; c < r.channels; c++) {
      const table = document.createElement("table"); table.className = "products";
      if (r.channels > 1) table.createCaption().textContent = CHANNEL_NAMES[c];
      let sum = 0;
      for (let u = 0; u < kh; u++) {
        const tr = table.insertRow();
        for (let v = 0; v < kw; v++) {
          const w = r.kernel[c][u][v], x = r.grid[c][r0 + u * r.dilation[0]][c0 + v * r.dilation[1]];
          const p = w * x;
          sum += p;
          const td = tr.insertCell();
          td.dataset.product = String(p); td.dataset.weight = String(w); td.dataset.value = String(x);
          td.innerHTML = "";
          const top = document.createElement("span"); top.className = "wx"; top.textContent = fmt(w) + "×" + fmt(x);
          const bottom = document.createElement("span"); bottom.className = "p"; bottom.textContent = fmt(round4(p));
          td.append(top, document.createElement("br"), bottom);
          const pb = Math.max(...r.kernel.flat(2).map(Math.abs)) || 1;
          if (p !== 0) td.style.background = diverging(p, pb);
          if (Math.abs(p) > 0.6 * pb) td.style.color = "#fff"; // dark cells get light text
        }
      }
      sums.push(sum);
      holder.appendChild(table);
    }
    const total = sums.reduce((a, b) => a + b, 0);
    const sumText = r.channels > 1
      ? CHANNEL_NAMES.map((n, c) => n + " " + fmt(round4(sums[c]))).join(" + ") + " = " + fmt(round4(total))
      : "sum of the " + kh * kw + " products = " + fmt(round4(total));
    $("pixel-sum").textContent = sumText + "   (output " + fmt(round4(r.output[oi][oj])) + ")";
    $("pixel-sum").dataset.value = String(total);
    const L = r.output.length * r.output[0].length;
    $("step-info").textContent = "pixel " + (state.current + 1) + " of " + L + ", " + (state.filled + 1) + " filled";
  }

  function drawMatrices() {
    const r = state.result;
    const col = state.current;
    const [oi, oj] = outIndex();
    // im2col: one column per output pixel, one row per kernel tap (and channel)
    const m = r.im2col, rows = m.length, L = m[0].length;
    const cw = cellSize(L, 1100, 26), ch = Math.max(6, Math.min(18, cw));
    const cv = $("im2col-canvas");
    cv.width = L * cw; cv.height = rows * ch;
    const ctx = cv.getContext("2d");
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < L; j++) {
        const g = Math.round(Math.max(0, Math.min(1, m[i][j])) * 255);
        ctx.fillStyle = "rgb(" + g + "," + g + "," + g + ")";
        ctx.fillRect(j * cw, i * ch, cw, ch);
      }
    }
    ctx.strokeStyle = "#ffd43b"; ctx.lineWidth = 3;
    ctx.strokeRect(col * cw - 1, 0, cw + 2, rows * ch);
    cv.parentElement.scrollLeft = Math.max(0, col * cw - cv.parentElement.clientWidth / 2);
    $("im2col-title").textContent = "im2col matrix (" + rows + "×" + L + "): column " + col +
      " is output pixel (" + oi + ", " + oj + ")";
    const colValues = m.map((row) => row[col]);
    const kflat = r.kernel.flat(2);
    $("im2col-text").textContent = "kernel row (1×" + kflat.length + ") · column " + col + " = " +
      (kflat.length <= 12 ? kflat.map((w, k) => fmt(w) + "×" + fmt(colValues[k])).join(" + ") + " = " : "") +
      fmt(round4(kflat.reduce((s, w, k) => s + w * colValues[k], 0)));
    // Toeplitz: one row per output pixel, one column per grid cell (C*Hg*Wg), CSR from the server
    const t = r.toeplitz, [tr, tc] = t.shape;
    const scale = Math.max(1, Math.min(14, Math.floor(1000 / tc)));
    const tv = $("toeplitz-canvas");
    tv.width = tc * scale; tv.height = tr * scale;
    const tctx = tv.getContext("2d");
    tctx.fillStyle = "#fff"; tctx.fillRect(0, 0, tv.width, tv.height);
    const kb = Math.max(...kflat.map(Math.abs)) || 1;
    for (let i = 0; i < tr; i++) {
      for (let n = t.indptr[i]; n < t.indptr[i + 1]; n++) {
        tctx.fillStyle = diverging(t.data[n], kb);
        tctx.fillRect(t.indices[n] * scale, i * scale, scale, scale);
      }
    }
    tctx.fillStyle = "rgba(255,212,59,.45)";
    tctx.fillRect(0, col * scale - 2, tv.width, scale + 4);
    tctx.strokeStyle = "#e8a400"; tctx.lineWidth = 1;
    tctx.strokeRect(0.5, col * scale - 2.5, tv.width - 1, scale + 5);
    tv.parentElement.scrollTop = Math.max(0, col * scale - tv.parentElement.clientHeight / 2);
    $("toeplitz-title").textContent = "Toeplitz matrix M (" + tr + "×" + tc + ", output pixels × grid cells): row " + col;
    const flatGrid = r.grid.flat(2);
    const hw = r.grid[0].length * r.grid[0][0].length, wg = r.grid[0][0].length;
    const cells = [];
    let dot = 0;
    for (let n = t.indptr[col]; n < t.indptr[col + 1]; n++) {
      const idx = t.indices[n];
      dot += t.data[n] * flatGrid[idx];
      const c = Math.floor(idx / hw), rc = idx % hw;
      cells.push((r.channels > 1 ? CHANNEL_NAMES[c][0] : "") + "(" + Math.floor(rc / wg) + "," + (rc % wg) + ")");
    }
    $("toeplitz-text").textContent = "row " + col + " holds the kernel's " + (t.indptr[col + 1] - t.indptr[col]) +
      " weights (its other entries are 0) at grid cells " + cells.slice(0, 12).join(" ") + (cells.length > 12 ? " …" : "") +
      "; row · grid = " + fmt(round4(dot));
  }

  function renderResult() {
    const r = state.result;
    $("image-info").textContent = r.input_note;
    $("op-title").textContent = r.title + " of a " + r.channels + "-channel input with the kernel " + r.kernel_name;
    $("out-shape").textContent = r.output.length + "×" + r.output[0].length;
    $("shape-rows").textContent = r.rows.text;
    $("shape-cols").textContent = r.cols.text;
    const notes = $("shape-notes");
    notes.replaceChildren();
    const add = (text) => { const li = document.createElement("li"); li.textContent = text; notes.appendChild(li); };
    new Set([...r.rows.notes, ...r.cols.notes]).forEach(add);
    if (r.padding_note) add(r.padding_note);
    if (r.transposed) add("drawn as conv_arithmetic does: stride − 1 = " + (int("stride", 1) - 1) +
      " zeros between input pixels, dilation×(kernel − 1) − padding zeros around (output_padding more at the bottom and right), the flipped kernel sliding one cell at a time");
    const checks = $("checks");
    checks.replaceChildren();
    r.checks.forEach((c) => {
      const li = document.createElement("li");
      li.textContent = c.route + ": " + (c.max_abs_difference < 1e-4 ? "equal" : "differs by " + c.max_abs_difference);
      checks.appendChild(li);
    });
    redraw();
  }

  const EDGES = ["left_edge", "top_edge", "diag1_edge", "diag2_edge"]; // fastai's order

  /** The four edge maps of the same input (one channel, not transposed), drawn from numbers. */
  async function renderEdges(seq) {
    const r = state.result, holder = $("edge-maps");
    holder.replaceChildren();
    if (r.channels !== 1 || r.transposed) {
      $("edges-info").textContent = "For one grey channel and a (not transposed) convolution.";
      return;
    }
    const request = body();
    const apply = {
      image: { pixels: r.input[0].map((row) => row.map((v) => Math.min(255, v * 255))) },
      kernels: EDGES.map((name) => ({ name })), stride: request.stride, dilation: request.dilation,
      padding: request.padding, padding_mode: request.padding_mode,
    };
    let out;
    try {
      out = await api("POST", "/api/conv/apply", apply);
    } catch (e) {
      if (seq === state.seq) $("edges-info").textContent = plainError(e);
      return;
    }
    if (seq !== state.seq) return;
    $("edges-info").textContent = "Chapter 13's edge_kernels as one (4, 1, 3, 3) weight with the padding, " +
      "stride and dilation above: (1, 1, " + r.input[0].length + ", " + r.input[0][0].length + ") → (1, 4, " +
      out.outputs[0].height + ", " + out.outputs[0].width + ").";
    out.outputs.forEach((o) => {
      const values = o.values.map((row) => row.map((v) => v / 255)); // the page's 0–1 scale
      const bound = Math.max(...values.flat().map(Math.abs)) || 1;
      const cs = cellSize(Math.max(o.height, o.width), 168, 24);
      const canvas = document.createElement("canvas");
      canvas.width = o.width * cs; canvas.height = o.height * cs;
      canvas.className = "edge-map"; canvas.dataset.kernel = o.kernel.name;
      const ctx = canvas.getContext("2d");
      values.forEach((row, i) => row.forEach((v, j) => {
        ctx.fillStyle = diverging(v, bound); ctx.fillRect(j * cs, i * cs, cs, cs);
      }));
      const f = document.createElement("figure");
      const c = document.createElement("figcaption");
      c.textContent = o.kernel.name + " → " + o.height + "×" + o.width + ", range ±" + fmt(round4(bound));
      f.append(canvas, c); holder.appendChild(f);
    });
  }

  function redraw() {
    if (!state.result) return;
    drawGrid(); drawOutput(); drawPixel(); drawMatrices();
  }

  // ------------------------------------------------------------------ animation
  function stop() {
    if (state.timer) { clearInterval(state.timer); state.timer = null; }
    $("play").textContent = "Play";
  }

  /** One step of the walk: the first starts it at pixel (0, 0), each next fills one more. */
  function step() {
    const r = state.result;
    if (!r) return;
    const L = r.output.length * r.output[0].length;
    if (state.filled >= L - 1) { state.filled = 0; state.current = 0; }
    else { state.filled += 1; state.current = state.filled; }
    redraw();
    if (state.filled >= L - 1) stop();
  }

  $("play").addEventListener("click", () => {
    if (state.timer) { stop(); return; }
    if (!state.result) return;
    $("play").textContent = "Pause";
    step();
    state.timer = setInterval(step, parseInt($("speed").value, 10));
  });
  $("step").addEventListener("click", () => { stop(); step(); });
  $("reset").addEventListener("click", () => {
    stop(); state.current = 0; state.filled = 0; redraw();
  });

  /** The (row, column) of the cell under the pointer on a canvas drawn with data-cell pixels. */
  function cellAt(canvas, event) {
    const rect = canvas.getBoundingClientRect();
    const cs = parseFloat(canvas.dataset.cell) * rect.width / canvas.width;
    return [Math.floor((event.clientY - rect.top) / cs), Math.floor((event.clientX - rect.left) / cs)];
  }

  /** Make output pixel (i, j) the chosen one (pausing the walk), if it is inside the output. */
  function choosePixel(i, j) {
    const r = state.result;
    const wo = r.output[0].length;
    if (i < 0 || j < 0 || i >= r.output.length || j >= wo) return;
    const n = i * wo + j;
    if (n === state.current && !state.timer) return;
    stop();
    state.current = n;
    state.filled = Math.max(state.filled, n);
    redraw();
  }

  function pickPixel(event) {
    if (state.result) choosePixel(...cellAt($("out-canvas"), event));
  }
  /** Hovering a grid cell: where its value comes from and which output pixels read it. */
  function inspectCell(event) {
    const r = state.result;
    if (!r) return;
    const [gi, gj] = cellAt($("grid-canvas"), event);
    const hg = r.grid[0].length, wg = r.grid[0][0].length;
    if (gi < 0 || gj < 0 || gi >= hg || gj >= wg) return;
    const kind = r.cell_kind[gi][gj], sr = r.source_rows[gi], sc = r.source_cols[gj];
    const value = r.grid.map((g) => fmt(round4(g[gi][gj]))).join(", ");
    let origin;
    if (kind === 0) origin = "input pixel (" + sr + ", " + sc + ")";
    else if (kind === 2 || sr < 0 || sc < 0) origin = kind === 2 ? "a zero inserted by the stride" : "zero padding";
    else origin = r.padding_mode + " padding: a copy of input pixel (" + sr + ", " + sc + ")";
    const kh = r.kernel[0].length, kw = r.kernel[0][0].length;
    const readers = [];
    r.output.forEach((row, i) => row.forEach((_, j) => {
      const u = (gi - i * r.stride[0]) / r.dilation[0], v = (gj - j * r.stride[1]) / r.dilation[1];
      if (Number.isInteger(u) && Number.isInteger(v) && u >= 0 && v >= 0 && u < kh && v < kw) readers.push([i, j]);
    }));
    $("cell-info").textContent = "grid cell (" + gi + ", " + gj + ") = " + value + ": " + origin +
      "; read by " + (readers.length ? readers.length + " output pixel" + (readers.length > 1 ? "s" : "") +
      " (outlined)" : "no output pixel: the floor drops it");
    drawOutput();
    const out = $("out-canvas"), ctx = out.getContext("2d"), ocs = parseFloat(out.dataset.cell);
    ctx.strokeStyle = "#2f6fdd"; ctx.lineWidth = 2;
    readers.forEach(([i, j]) => ctx.strokeRect(j * ocs + 1, i * ocs + 1, ocs - 2, ocs - 2));
  }
  $("grid-canvas").addEventListener("pointermove", inspectCell);
  $("grid-canvas").addEventListener("pointerdown", inspectCell);
  $("grid-canvas").addEventListener("pointerleave", () => { if (state.result) drawOutput(); });

  $("out-canvas").addEventListener("keydown", (event) => { // arrows move the chosen pixel
    const r = state.result;
    const move = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[event.key];
    if (!r || !move) return;
    event.preventDefault();
    const [i, j] = outIndex();
    choosePixel(i + move[0], j + move[1]);
  });
  $("out-canvas").addEventListener("pointermove", pickPixel);
  $("out-canvas").addEventListener("pointerdown", pickPixel);

  // ------------------------------------------------------------------ inputs
  ["padding", "padding-mode", "stride", "dilation", "output-padding"].forEach((id) => {
    $(id).addEventListener("input", schedule);
    $(id).addEventListener("change", schedule);
  });
  $("operation").addEventListener("change", () => {
    const transposed = $("operation").value === "transposed";
    $("output-padding").disabled = !transposed;
    $("padding-mode").disabled = transposed; // ConvTranspose2d pads with zeros only
    schedule();
  });
  $("ksize").addEventListener("change", () => resetKernel(null));
  $("channels").addEventListener("change", () => {
    if (channels() === 3 && $("source").value === "numbers") { $("source").value = "colour"; state.sample = "colour"; }
    if (channels() === 1 && $("source").value === "colour") { $("source").value = "numbers"; state.sample = "numbers"; }
    resetKernel(state.kernelName);
  });
  $("source").addEventListener("change", () => {
    const v = $("source").value;
    if (v === "numbers" || v === "colour") {
      state.sample = v;
      if (v === "colour" && channels() !== 3) { $("channels").value = "3"; resetKernel(state.kernelName); return; }
      schedule();
    } else if (v === "mnist") {
      state.sample = null; state.image = { mnist_index: int("mnist-index", 0) }; schedule();
    } else if (v === "drawing") {
      state.sample = null; state.image = { png_base64: pad.dataURL() }; schedule();
    } else if (v === "upload") {
      $("upload").click();
    }
  });
  $("load-mnist").addEventListener("click", () => {
    state.sample = null; $("source").value = "mnist";
    state.image = { mnist_index: int("mnist-index", 0) };
    schedule();
  });
  $("upload").addEventListener("change", () => {
    const file = $("upload").files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => { state.sample = null; $("source").value = "upload"; state.image = { png_base64: reader.result }; schedule(); };
    reader.readAsDataURL(file);
  });
  const useDrawing = () => { state.sample = null; $("source").value = "drawing"; state.image = { png_base64: pad.dataURL() }; schedule(); };
  const pad = makeDrawable($("draw"), 18, useDrawing);
  $("clear").addEventListener("click", () => { pad.clear(); if ($("source").value === "drawing") clearAll("The drawing is empty: draw a digit, or pick another input."); });
  $("use-drawing").addEventListener("click", useDrawing);

  try {
    state.namedKernels = await api("GET", "/api/conv/kernels");
  } catch (e) { $("conv-error").textContent = plainError(e); }
  resetKernel("top_edge");
});
