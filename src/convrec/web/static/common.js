// Shared helpers of the studio pages: JSON calls with readable errors, drawing canvases.
"use strict";

/** Call the JSON API; resolve with the body, reject with "field: rule (got value)". */
async function api(method, url, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    if (data && Array.isArray(data.detail)) {
      message = data.detail.map((d) => {
        const field = (d.loc || []).filter((p) => p !== "body").join(".");
        const got = d.input === undefined || d.input === null ? "" : " (got " + JSON.stringify(d.input) + ")";
        return (field ? field + ": " : "") + d.msg + got;
      }).join("; ");
    } else if (data && data.detail) {
      message = String(data.detail);
    }
    const error = new Error(message);
    error.status = response.status;
    error.detail = data ? data.detail : null; // pages may word it for people (conv.js does)
    throw error;
  }
  return data;
}

/** Make a canvas drawable with the mouse, pen or finger: white strokes on black. */
function makeDrawable(canvas, lineWidth, onEnd) {
  const ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let drawing = false;
  const at = (event) => {
    const r = canvas.getBoundingClientRect();
    return [(event.clientX - r.left) * canvas.width / r.width,
            (event.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = at(event);
    ctx.beginPath(); ctx.moveTo(x, y);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = lineWidth; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.lineTo(x + 0.1, y + 0.1); ctx.stroke();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const [x, y] = at(event);
    ctx.lineTo(x, y); ctx.stroke();
  });
  const end = () => { if (drawing) { drawing = false; if (onEnd) onEnd(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointerleave", end);
  return { clear, dataURL: () => canvas.toDataURL("image/png") };
}

/** A table of numbers (rows of values), optionally highlighting one column. */
function numberTable(rows, highlightCol) {
  const table = document.createElement("table");
  table.className = "numbers";
  rows.forEach((row) => {
    const tr = table.insertRow();
    row.forEach((value, j) => {
      const td = tr.insertCell();
      td.textContent = Number.isInteger(value) ? String(value) : value.toFixed(2);
      if (j === highlightCol) td.className = "hl";
    });
  });
  return table;
}

/** On a first start the models train in the background: say what is still training, with
 * its time so far, until everything is ready; then fire "convrec:ready" on the document so
 * that a page can (re)load what needed the models, without a reload. */
const PART_NAMES = { classifier: "the digit classifier", recommender: "the movie recommender" };
async function watchStudioStatus() {
  const banner = document.getElementById("studio-status");
  if (!banner) return;
  let wasTraining = false;
  for (;;) {
    let status = null;
    try { status = await api("GET", "/api/status"); } catch (error) { status = null; }
    if (status) {
      const busy = Object.entries(status.parts)
        .filter(([, part]) => part.state === "training" || part.state === "waiting");
      if (busy.length === 0) {
        banner.hidden = true;
        if (wasTraining) document.dispatchEvent(new CustomEvent("convrec:ready", { detail: status }));
        return;
      }
      wasTraining = true;
      banner.hidden = false;
      banner.textContent = "First start: training in the background " + busy.map(([name, part]) =>
        (PART_NAMES[name] || name) + (part.state === "waiting" ? " (next)" : " (" + part.seconds + " s so far)")
      ).join(", ") + ". What needs it works as soon as it is ready; no reload needed.";
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  watchStudioStatus();
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await api("POST", "/api/auth/logout");
      window.location.reload();
    });
  }
});
