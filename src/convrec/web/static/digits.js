// The digit reader: draw, upload or pick a digit -> prediction, probabilities, activations.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  let pending = 0;
  const pad = makeDrawable($("pad"), 18, () => read({ png_base64: pad.dataURL() }));

  // Nothing of an earlier answer may stay beside a new drawing or an error.
  function clearResult() {
    $("digit-label").textContent = "–";
    $("digit-confidence").textContent = "";
    $("probabilities").replaceChildren();
    for (const id of ["input28", "saliency"]) { $(id).hidden = true; $(id).removeAttribute("src"); }
    $("activations-info").textContent = "";
    $("activations").replaceChildren();
    $("layers").replaceChildren();
  }

  async function read(image) {
    const ticket = ++pending;
    $("digit-error").textContent = "";
    clearResult();
    try {
      const out = await api("POST", "/api/mnist/predict", { images: [image] });
      if (ticket === pending) show(out.predictions[0]);
    } catch (e) {
      if (ticket === pending) { clearResult(); $("digit-error").textContent = e.message; }
    }
  }

  function mapGrid(urls, label) {
    const grid = document.createElement("div");
    grid.className = "maps";
    urls.forEach((url, k) => {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.className = "thumb"; img.src = url; img.alt = label + " map " + k;
      const caption = document.createElement("figcaption");
      caption.textContent = "#" + k;
      figure.append(img, caption);
      grid.appendChild(figure);
    });
    return grid;
  }

  function show(p) {
    $("digit-label").textContent = p.sure ? String(p.label) : p.verdict;
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
    $("saliency").src = p.saliency_png;
    $("saliency").hidden = false;
    const [c, h, w] = p.activations_shape;
    const f = p.first_layer;
    if (f && f.kernel) {
      $("first-layer-info").textContent = "First convolution: " + f.channels + " learned " +
        f.kernel + "×" + f.kernel + " kernels, stride " + f.stride + ", padding " + f.padding +
        ": (28 + 2×" + f.padding + " − " + f.kernel + ")//" + f.stride + " + 1 = " + h +
        " pixels a side. Grey is 0, white positive, black negative.";
    }
    $("activations-info").textContent = "first convolution: " + c + " maps of " + h + "×" + w;
    $("activations").replaceChildren(...mapGrid(p.activations, "first convolution").children);
    const layers = $("layers");
    layers.replaceChildren();
    (p.layers || []).forEach((layer) => {
      const title = document.createElement("h3");
      title.textContent = layer.name + " (" + layer.shape.join("×") + ")";
      layers.append(title, mapGrid(layer.maps, layer.name));
    });
  }

  $("clear").addEventListener("click", () => { pad.clear(); clearResult(); $("digit-error").textContent = ""; });
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
