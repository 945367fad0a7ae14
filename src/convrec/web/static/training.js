// Training you can watch: start a run, follow its server-sent events, draw as they come.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  let source = null, runId = null, state = null;

  function reset(start) {
    state = { total: start.total_steps, steps: [], loss: [], lr: [], mom: [], evals: [],
              layers: start.layers, dims: [], mean: [], std: [], zero: [] };
    const pick = $("t-layer");
    pick.replaceChildren();
    start.layers.forEach((name, k) => {
      const option = document.createElement("option");
      option.value = String(k); option.textContent = name;
      pick.appendChild(option);
    });
    pick.value = String(Math.max(0, start.layers.length - 2)); // the chapter's: the last ReLU
    drawStats();
    const box = $("c-dims");
    box.replaceChildren();
    start.layers.forEach((name) => {
      const figure = document.createElement("figure");
      const canvas = document.createElement("canvas");
      canvas.width = 300; canvas.height = 80; canvas.className = "dim";
      canvas.setAttribute("aria-label", "colorful dimension of " + name);
      const caption = document.createElement("figcaption");
      caption.textContent = name;
      figure.append(canvas, caption);
      box.appendChild(figure);
      state.dims.push({ canvas, max: 1 });
    });
  }

  function line(ctx, xs, ys, xmax, ymin, ymax, colour) {
    const w = ctx.canvas.width, h = ctx.canvas.height;
    ctx.strokeStyle = colour; ctx.beginPath();
    xs.forEach((x, i) => {
      const px = (x / xmax) * w, py = h - ((ys[i] - ymin) / (ymax - ymin || 1)) * h;
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
  }

  // the scales are written under each chart, not on it: the canvases hold the lines alone
  const fmt = (v) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(2) : v.toExponential(1));

  function drawCurves() {
    const loss = $("c-loss").getContext("2d");
    loss.clearRect(0, 0, loss.canvas.width, loss.canvas.height);
    const lossTop = Math.max(...state.loss, 0.1);
    line(loss, state.steps, state.loss, state.total, 0, lossTop, "#2f6fdd");
    $("t-loss-axes").textContent = "blue: training loss, 0 (bottom) to " + fmt(lossTop) +
      " (top); green: valid accuracy, 0 to 100%; steps 1 to " + state.total + " left to right";
    if (state.evals.length) {
      line(loss, state.evals.map((e) => e.step), state.evals.map((e) => e.valid_accuracy),
           state.total, 0, 1, "#2fa02f");
    }
    const lr = $("c-lr").getContext("2d");
    lr.clearRect(0, 0, lr.canvas.width, lr.canvas.height);
    const lrTop = Math.max(...state.lr);
    line(lr, state.steps, state.lr, state.total, 0, lrTop, "#2f6fdd");
    let legend = "blue: learning rate, 0 (bottom) to " + fmt(lrTop) + " (top)";
    const moms = state.mom.filter((m) => m !== null);
    if (moms.length === state.steps.length) {
      const lo = Math.min(...moms) - 0.01, hi = Math.max(...moms) + 0.01;
      line(lr, state.steps, state.mom, state.total, lo, hi, "#dd7a2f");
      legend += "; orange: momentum (AdamW's β1, cycled against it), " + fmt(lo) + " to " + fmt(hi);
    }
    $("t-lr-axes").textContent = legend;
  }

  /** plot_layer_stats for the chosen layer: mean, std and % near zero per step, each on
   * its own range, the range and the latest value written under it. */
  function drawStats() {
    const k = parseInt($("t-layer").value, 10);
    const series = [["c-mean", "s-mean", "mean", state.mean, 1],
                    ["c-std", "s-std", "std", state.std, 1],
                    ["c-zero", "s-zero", "% near zero", state.zero, 100]];
    series.forEach(([canvasId, captionId, title, rows, scale]) => {
      const ctx = $(canvasId).getContext("2d");
      ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
      const ys = rows.map((row) => row[k] * scale);
      if (!ys.length) { $(captionId).textContent = title; return; }
      const lo = Math.min(...ys), hi = Math.max(...ys);
      line(ctx, state.steps, ys, state.total, lo, hi, "#2f6fdd");
      const f = (v) => v.toFixed(scale === 100 ? 1 : 3);
      $(captionId).textContent = title + ": " + f(ys[ys.length - 1]) + " at step " +
        state.steps[state.steps.length - 1] + " (range " + f(lo) + " to " + f(hi) + ")";
    });
  }

  function addColumn(event) {
    event.hist.forEach((bins, k) => {
      const dim = state.dims[k];
      if (!dim) return;
      const ctx = dim.canvas.getContext("2d");
      const x0 = Math.floor((event.step - 1) / state.total * dim.canvas.width);
      const x1 = Math.max(x0 + 1, Math.floor(event.step / state.total * dim.canvas.width));
      const logs = bins.map((v) => Math.log1p(v));
      dim.max = Math.max(dim.max, ...logs);
      const bh = dim.canvas.height / bins.length;
      logs.forEach((v, b) => {
        const t = v / dim.max;  // dark blue (none) to yellow (many), like viridis' ends
        ctx.fillStyle = "rgb(" + Math.round(68 + 185 * t) + "," + Math.round(1 + 230 * t) + "," + Math.round(84 - 47 * t) + ")";
        ctx.fillRect(x0, dim.canvas.height - (b + 1) * bh, x1 - x0, Math.ceil(bh));
      });
    });
  }

  function finish(message) {
    if (source) { source.close(); source = null; }
    $("t-start").disabled = false; $("t-cancel").disabled = true;
    if (message) $("t-status").textContent = message;
  }

  function onEvent(event) {
    if (event.type === "start") reset(event);
    else if (event.type === "status" || event.type === "limit") $("t-status").textContent = event.message;
    else if (event.type === "step") {
      state.steps.push(event.step); state.loss.push(event.loss); state.lr.push(event.lr);
      state.mom.push(event.mom);
      state.mean.push(event.mean); state.std.push(event.std); state.zero.push(event.near_zero);
      addColumn(event); drawCurves(); drawStats();
      $("t-status").textContent = "step " + event.step + " / " + state.total + ", loss " + event.loss.toFixed(4);
    } else if (event.type === "eval") {
      state.evals.push(event); drawCurves();
      $("t-acc").textContent = "valid accuracy " + (100 * event.valid_accuracy).toFixed(2) + "% at epoch " + event.epoch;
    } else if (event.type === "done") {
      finish((event.cancelled ? "cancelled" : "done") + " after " + event.train_seconds + " s of training" +
        (event.final_accuracy !== null ? ", valid accuracy " + (100 * event.final_accuracy).toFixed(2) + "%" : ""));
    } else if (event.type === "error") { $("t-error").textContent = event.message; finish(""); }
  }

  $("train-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("t-error").textContent = ""; $("t-acc").textContent = "";
    const body = { model: $("t-model").value, schedule: $("t-schedule").value,
                   lr: parseFloat($("t-lr").value), batch_size: parseInt($("t-bs").value, 10),
                   epochs: parseFloat($("t-epochs").value), n_train: parseInt($("t-n").value, 10) };
    try {
      const out = await api("POST", "/api/training/runs", body);
      runId = out.run_id;
      $("t-start").disabled = true; $("t-cancel").disabled = false;
      source = new EventSource(out.events);
      source.onmessage = (m) => onEvent(JSON.parse(m.data));
      source.addEventListener("end", () => finish(""));
    } catch (err) { $("t-error").textContent = err.message; }
  });
  $("t-layer").addEventListener("change", () => { if (state) drawStats(); });
  $("t-cancel").addEventListener("click", async () => {
    if (runId !== null) await api("POST", "/api/training/runs/" + runId + "/cancel");
  });
});
