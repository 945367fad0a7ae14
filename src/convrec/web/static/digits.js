// The digit reader: draw, upload or pick a digit -> prediction, probabilities, activations.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  let pending = 0;
  const pad = makeDrawable($("pad"), 18, () => read({ png_base64: pad.dataURL() }));

  async function read(image) {
    const ticket = ++pending;
    $("digit-error").textContent = "";
    try {
      const out = await api("POST", "/api/mnist/predict", { images: [image] });
      if (ticket === pending) show(out.predictions[0]);
    } catch (e) {
      if (ticket === pending) $("digit-error").textContent = e.message;
    }
  }

  function show(p) {
    $("digit-label").textContent = String(p.label);
    $("digit-confidence").textContent = "(" + (100 * p.confidence).toFixed(1) + "% sure)";
    const bars = $("probabilities");
    bars.replaceChildren();
    p.probabilities.forEach((prob, digit) => {
      const label = document.createElement("span");
      label.textContent = String(digit);
      const track = document.createElement("div");
      track.className = "bar-row" + (digit === p.label ? " top" : "");
      track.dataset.digit = String(digit);
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = Math.max(0.5, 100 * prob).toFixed(1) + "%";
      track.appendChild(bar);
      const value = document.createElement("span");
      value.className = "prob";
      value.textContent = (100 * prob).toFixed(1) + "%";
      bars.append(label, track, value);
    });
    $("input28").src = p.input_png;
    $("input28").hidden = false;
    const [c, h, w] = p.activations_shape;
    $("activations-info").textContent = c + " maps of " + h + "×" + w;
    const maps = $("activations");
    maps.replaceChildren();
    p.activations.forEach((url, k) => {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.className = "thumb"; img.src = url; img.alt = "activation map " + k;
      const caption = document.createElement("figcaption");
      caption.textContent = "#" + k;
      figure.append(img, caption);
      maps.appendChild(figure);
    });
  }

  $("clear").addEventListener("click", () => pad.clear());
  $("read-mnist").addEventListener("click", () => {
    const index = parseInt($("mnist-index").value, 10);
    read({ mnist_index: Number.isFinite(index) ? index : 0 });
  });
  $("upload").addEventListener("change", () => {
    const file = $("upload").files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => read({ png_base64: String(reader.result) });
    reader.readAsDataURL(file);
  });
});
