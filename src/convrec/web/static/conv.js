// The convolution playground: image, kernel, settings -> maps, shape formula, im2col view.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const $ = (id) => document.getElementById(id);
  let image = { mnist_index: 0 };
  let kernels = [];
  let timer = null;

  const grid = $("kernel-grid");
  const cells = [];
  for (let i = 0; i < 3; i++) {
    const tr = grid.insertRow();
    for (let j = 0; j < 3; j++) {
      const input = document.createElement("input");
      input.type = "number"; input.step = "any"; input.value = "0";
      input.setAttribute("aria-label", "kernel row " + (i + 1) + " column " + (j + 1));
      input.addEventListener("input", schedule);
      tr.insertCell().appendChild(input);
      cells.push(input);
    }
  }
  const setKernel = (values) => values.flat().forEach((v, k) => { cells[k].value = String(v); });
  const kernelValues = () => [0, 1, 2].map((i) => [0, 1, 2].map((j) => {
    const v = parseFloat(cells[i * 3 + j].value);
    return Number.isFinite(v) ? v : 0;
  }));

  try {
    kernels = await api("GET", "/api/conv/kernels");
  } catch (e) { $("conv-error").textContent = e.message; }
  const edges = ["top_edge", "left_edge", "diag1_edge", "diag2_edge"];
  kernels.filter((k) => edges.includes(k.name) || ["sobel_x", "laplacian", "identity"].includes(k.name))
    .forEach((k) => {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = k.name; b.dataset.kernel = k.name;
      b.addEventListener("click", () => { setKernel(k.values); schedule(); });
      $("presets").appendChild(b);
    });
  const top = kernels.find((k) => k.name === "top_edge");
  if (top) setKernel(top.values);

  const int = (id, fallback) => {
    const v = parseInt($(id).value, 10);
    return Number.isFinite(v) ? v : fallback;
  };

  function settings() {
    const pad = $("padding").value;
    return {
      stride: int("stride", 1),
      dilation: int("dilation", 1),
      padding: /^\d+$/.test(pad) ? parseInt(pad, 10) : pad,
    };
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(run, 150);
  }

  async function run() {
    $("conv-error").textContent = "";
    const body = Object.assign({ image }, settings());
    body.kernels = $("all-edges").checked ? edges.map((name) => ({ name }))
                                          : [{ values: kernelValues() }];
    try {
      const out = await api("POST", "/api/conv/apply", body);
      render(out);
    } catch (e) {
      $("conv-error").textContent = e.message;
    }
    runMatmul();
  }

  function render(out) {
    $("image-info").textContent = "input " + out.input.height + "×" + out.input.width;
    const first = out.outputs[0];
    $("out-shape").textContent = first.height + "×" + first.width;
    $("shape-rows").textContent = first.rows.text;
    $("shape-cols").textContent = first.cols.text;
    const notes = $("shape-notes");
    notes.replaceChildren();
    new Set([...first.rows.notes, ...first.cols.notes]).forEach((n) => {
      const li = document.createElement("li"); li.textContent = n; notes.appendChild(li);
    });
    const maps = $("maps");
    maps.replaceChildren();
    const figure = (src, caption) => {
      const f = document.createElement("figure");
      const img = document.createElement("img");
      img.src = src; img.alt = caption; img.className = "map";
      const c = document.createElement("figcaption"); c.textContent = caption;
      f.append(img, c);
      maps.appendChild(f);
    };
    figure(out.input.png, "input");
    out.outputs.forEach((o) => figure(o.png, o.kernel.name + " → " + o.height + "×" + o.width +
      " (min " + o.min.toFixed(1) + ", max " + o.max.toFixed(1) + ")"));
  }

  async function runMatmul() {
    const target = $("matmul");
    $("matmul-error").textContent = "";
    const s = settings();
    const body = {
      image, kernel: { values: kernelValues() }, stride: s.stride, dilation: s.dilation,
      padding: s.padding,
      crop_top: int("crop-top", 0), crop_left: int("crop-left", 0),
      crop_size: int("crop-size", 5), out_row: int("out-row", 0), out_col: int("out-col", 0),
    };
    try {
      const m = await api("POST", "/api/conv/matmul", body);
      target.replaceChildren();
      const part = (title, node) => {
        const d = document.createElement("div"); d.className = "part";
        const h = document.createElement("h3"); h.textContent = title;
        d.append(h, node); target.appendChild(d);
      };
      part("crop " + m.crop.length + "×" + m.crop[0].length, numberTable(m.crop));
      part("kernel as one row (1×" + m.weight_row.length + ")", numberTable([m.weight_row]));
      part("im2col matrix (" + m.cols.length + "×" + m.cols[0].length + "), column " +
           m.pixel.column_index + " is output pixel (" + m.pixel.row + ", " + m.pixel.col + ")",
           numberTable(m.cols, m.pixel.column_index));
      const p = document.createElement("p");
      p.className = "formula";
      p.textContent = m.pixel.weights.map((w, k) => w + "×" + m.pixel.window[k]).join(" + ") +
        " = " + m.pixel.total.toFixed(2);
      part("one output pixel: kernel row · column " + m.pixel.column_index, p);
      part("row @ im2col, reshaped (" + m.rows.text + ", " + m.cols_shape.text + ")",
           numberTable(m.output_matmul));
    } catch (e) {
      target.replaceChildren();
      $("matmul-error").textContent = e.message;
    }
  }

  ["padding", "stride", "dilation", "all-edges", "crop-top", "crop-left", "crop-size",
   "out-row", "out-col"].forEach((id) => {
    $(id).addEventListener("input", schedule);
    $(id).addEventListener("change", schedule);
  });
  $("load-mnist").addEventListener("click", () => {
    image = { mnist_index: parseInt($("mnist-index").value, 10) || 0 };
    schedule();
  });
  $("upload").addEventListener("change", () => {
    const file = $("upload").files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => { image = { png_base64: reader.result }; schedule(); };
    reader.readAsDataURL(file);
  });
  const pad = makeDrawable($("draw"), 18, () => { image = { png_base64: pad.dataURL() }; schedule(); });
  $("clear").addEventListener("click", pad.clear);
  $("use-drawing").addEventListener("click", () => { image = { png_base64: pad.dataURL() }; schedule(); });
  schedule();
});
