// The page of `srgan serve`: pick a photo, run a task through the API, compare before and after.
// Plain JavaScript, no build step and nothing from other sites: the server is all there is.
"use strict";

const $ = (id) => document.getElementById(id);

const TASKS = {
  upscale: { verb: "Upscale", busy: "Upscaling", kinds: ["srgan", "srresnet"],
    hint: "Super-resolve with the model, compared with a bicubic resize of your photo." },
  denoise: { verb: "Denoise", busy: "Denoising", kinds: ["denoiser"],
    hint: "Remove noise, compared with your photo as it is." },
  restore: { verb: "Restore", busy: "Restoring", kinds: ["denoiser"],
    hint: "Denoise, then upscale (choose “No upscaling” to only denoise)." },
};
const UPSCALER_KINDS = TASKS.upscale.kinds;
const MAX_RETRIES = 8;
const ZOOM_STEP = 1.25;

const state = {
  models: [],
  file: null,
  busy: false,
  zoom: "fit",      // "fit" or a number (CSS pixels per image pixel)
  split: 50,        // divider position, % from the left
  size: null,       // result size {w, h}
  urls: [],         // object URLs to revoke when a new result replaces them
};

// ------------------------------------------------------------------------------------------ models

async function loadModels() {
  try {
    const res = await fetch("/api/models");
    if (!res.ok) throw new Error(await errorText(res));
    state.models = await res.json();
  } catch (err) {
    showError(`Could not load the model list: ${err.message}`);
    return;
  }
  for (const radio of document.querySelectorAll('input[name="task"]')) {
    radio.disabled = modelsFor(TASKS[radio.value].kinds).length === 0;
  }
  const first = [...document.querySelectorAll('input[name="task"]')].find((r) => !r.disabled);
  if (!first) {
    showError("This server offers no models. Start it with --model FILE.");
    return;
  }
  first.checked = true;
  updateTask();
}

// Until the server has loaded its default model, say so: a first request waits for the load.
async function watchReadiness() {
  for (;;) {
    let res, body;
    try {
      res = await fetch("/healthz");
      body = await res.json();
    } catch (err) {
      return;  // a server too old for this, or gone: the requests themselves will say
    }
    const note = $("server-state");
    if (res.ok || body.status !== "loading") {
      note.hidden = true;
      if (!res.ok) showError(body.detail || `${res.status} ${res.statusText}`);
      return;
    }
    note.textContent = "Loading the model… a request made now starts when it is ready.";
    note.hidden = false;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function modelsFor(kinds) {
  // In the server's order; which one is preselected is the server's call (its `default`), not the page's.
  return state.models.filter((m) => kinds.includes(m.kind));
}

function describe(card) {
  const kind = { srgan: "SRGAN", srresnet: "SRResNet", denoiser: "denoiser" }[card.kind] || card.kind;
  const scale = card.kind === "denoiser" ? "" : ` ×${card.scale}`;
  return `${card.name} — ${kind}${scale}`;
}

function fillSelect(select, cards, noneLabel) {
  const previous = select.value;
  select.replaceChildren();
  if (noneLabel) select.append(new Option(noneLabel, "none"));
  for (const card of cards) select.append(new Option(describe(card), card.name));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  else if (cards.length) select.value = (cards.find((c) => c.default) || cards[0]).name;
}

function currentTask() {
  return document.querySelector('input[name="task"]:checked').value;
}

function updateTask() {
  const task = TASKS[currentTask()];
  fillSelect($("model"), modelsFor(task.kinds));
  const restore = currentTask() === "restore";
  $("upscaler-field").hidden = !restore;
  if (restore) fillSelect($("upscaler"), modelsFor(UPSCALER_KINDS), "No upscaling");
  $("outscale-field").hidden = currentTask() !== "upscale";
  $("task-hint").textContent = task.hint;
  $("run").textContent = task.verb;
  updateSigma();
  updateRunButton();
}

// The noise level is asked for only where it is used: a denoiser told σ (a blind one has no input for it).
function updateSigma() {
  const card = state.models.find((m) => m.name === $("model").value);
  $("sigma-field").hidden = currentTask() === "upscale" || !(card && card.takes_sigma);
  $("sigma").disabled = document.querySelector('input[name="sigma-mode"]:checked').value !== "value";
}

function updateRunButton() {
  $("run").disabled = state.busy || !state.file || !$("model").value;
}

// -------------------------------------------------------------------------------------------- file

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  hideError();
  const info = $("file-info");
  info.hidden = false;
  info.replaceChildren();
  const name = document.createElement("strong");
  name.textContent = file.name;
  info.append(name, ` · ${formatBytes(file.size)}`);
  // The size is a courtesy; formats the browser cannot decode (TIFF) just go without it.
  createImageBitmap(file).then((bitmap) => {
    info.append(` · ${bitmap.width}×${bitmap.height}`);
    bitmap.close();
  }, () => {});
  updateRunButton();
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// ------------------------------------------------------------------------------------------ running

async function run() {
  if (state.busy || !state.file) return;
  const taskName = currentTask();
  const task = TASKS[taskName];
  const fields = { format: $("format").value };
  const tile = $("tile").value.trim();
  if (tile) fields.tile = tile;
  if (taskName === "restore") {
    fields.denoiser = $("model").value;
    fields.upscaler = $("upscaler").value || "none";
  } else {
    fields.model = $("model").value;
  }
  if (taskName === "upscale" && $("outscale").value.trim()) fields.outscale = $("outscale").value.trim();
  // No sigma field: the server estimates σ from the photo.
  if (!$("sigma-field").hidden && !$("sigma").disabled && $("sigma").value.trim()) fields.sigma = $("sigma").value.trim();

  setBusy(true, `${task.busy}…`);
  hideError();
  const started = performance.now();
  try {
    const result = await postImage(`/api/${taskName}`, fields, task.busy);
    const after = await loadImage(result.blob);
    const { w, h } = { w: after.naturalWidth, h: after.naturalHeight };
    setStatus("Preparing the comparison…");
    const before = await postImage("/api/bicubic", { width: w, height: h, format: "png" }, "Preparing the comparison");
    const source = parseSize(result.headers.get("X-Source-Size"));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    showResult({ taskName, fields, result, before, size: { w, h }, source, seconds });
  } catch (err) {
    showError(err.message);
    document.body.dataset.state = "error";
  } finally {
    setBusy(false);
  }
}

// POST the file and fields; resolves to {blob, headers}. A full queue (503) is retried after the
// server's Retry-After; any other failure rejects with the server's JSON message.
async function postImage(url, fields, busyText) {
  for (let attempt = 0; ; attempt++) {
    const form = new FormData();
    form.append("image", state.file, state.file.name);
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    let res;
    try {
      res = await fetch(url, { method: "POST", body: form });
    } catch (err) {
      throw new Error("The server did not answer. Is `srgan serve` still running?");
    }
    if (res.ok) return { blob: await res.blob(), headers: res.headers };
    if (res.status === 503 && attempt < MAX_RETRIES) {
      const wait = Math.min(30, Math.max(1, Number(res.headers.get("Retry-After")) || 2));
      await countdown(wait, (s) => setStatus(`Server busy, retrying in ${s} s…`));
      setStatus(`${busyText}…`);
      continue;
    }
    throw new Error(await errorText(res));
  }
}

async function errorText(res) {
  let detail = null;
  try {
    detail = (await res.json()).detail;
  } catch (err) { /* not JSON */ }
  if (Array.isArray(detail)) {
    // FastAPI's validation errors: [{loc: ["body", "outscale"], msg: "..."}]
    detail = detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`).join("; ");
  }
  return `${res.status} ${res.statusText || ""}`.trim() + (detail ? ` — ${detail}` : "");
}

function countdown(seconds, tick) {
  return new Promise((resolve) => {
    let left = seconds;
    tick(left);
    const timer = setInterval(() => {
      left -= 1;
      if (left <= 0) { clearInterval(timer); resolve(); } else tick(left);
    }, 1000);
  });
}

function loadImage(blob) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("The browser cannot display the result (try PNG)."));
    img.src = URL.createObjectURL(blob);
    state.urls.push(img.src);
  });
}

function parseSize(text) {
  const m = /^(\d+)x(\d+)$/.exec(text || "");
  return m ? { w: Number(m[1]), h: Number(m[2]) } : null;
}

let busyTimer = null;
let busySince = 0;
function setBusy(busy, text) {
  state.busy = busy;
  if (busy) document.body.dataset.state = "busy";
  $("status").hidden = !busy;
  document.querySelector(".panel").setAttribute("aria-busy", String(busy));
  clearInterval(busyTimer);
  if (busy) {
    busySince = performance.now();
    setStatus(text);
    busyTimer = setInterval(() => setStatus($("status-text").dataset.base), 1000);
  }
  updateRunButton();
}

// The status line: what is happening, and for how long the whole task has been going.
function setStatus(text) {
  const el = $("status-text");
  el.dataset.base = text;
  const seconds = Math.floor((performance.now() - busySince) / 1000);
  el.textContent = seconds >= 1 ? `${text} ${seconds} s` : text;
}

// ------------------------------------------------------------------------------------------ showing

function showResult({ taskName, fields, result, before, size, source, seconds }) {
  for (const url of state.urls.splice(0, state.urls.length - 1)) URL.revokeObjectURL(url);
  const afterUrl = state.urls[state.urls.length - 1];
  const beforeUrl = URL.createObjectURL(before.blob);
  state.urls.push(beforeUrl);

  $("result-after").src = afterUrl;
  $("result-before").src = beforeUrl;
  state.size = size;

  const scale = source ? size.w / source.w : 1;
  const scaleText = `×${Number(scale.toFixed(2))}`;
  const resized = source && (size.w !== source.w || size.h !== source.h);
  $("label-before").textContent = resized ? `Bicubic ${scaleText} (input)` : "Input";
  const names = [fields.model || fields.denoiser, fields.upscaler].filter((n) => n && n !== "none").join(" + ");
  $("label-after").textContent = resized ? `${names} ${scaleText}` : names;
  $("label-after").title = $("label-after").textContent;  // the tag may be cut short
  $("label-before").title = resized
    ? "Your photo resized with MATLAB-style bicubic interpolation on the server"
    : "Your photo as uploaded";

  const from = source ? `${source.w}×${source.h} → ` : "";
  const sigma = result.headers.get("X-Noise-Sigma");
  const noise = sigma ? ` · σ ${Number(sigma).toFixed(3)} (${result.headers.get("X-Noise-Sigma-Source") || "given"})` : "";
  $("result-info").textContent = `${from}${size.w}×${size.h} · ${formatBytes(result.blob.size)} · ${seconds} s${noise}`;

  const download = $("download");
  download.href = afterUrl;
  download.download = downloadName(result.headers) || `result.${fields.format === "jpeg" ? "jpg" : fields.format}`;
  download.hidden = false;

  $("placeholder").hidden = true;
  $("stage").hidden = false;
  for (const id of ["zoom-in", "zoom-out", "zoom-fit", "zoom-1", "split"]) $(id).disabled = false;
  state.zoom = "fit";
  applyZoom();
  setSplit(50);
  document.body.dataset.state = "done";
  document.body.dataset.task = taskName;
}

function downloadName(headers) {
  const m = /filename="([^"]+)"/.exec(headers.get("Content-Disposition") || "");
  return m ? m[1] : null;
}

// ------------------------------------------------------------------------------------ compare, zoom

function setSplit(pct) {
  state.split = Math.min(100, Math.max(0, pct));
  $("result-before").style.clipPath = `inset(0 ${100 - state.split}% 0 0)`;
  $("divider").style.left = `${state.split}%`;
  $("split").value = String(state.split);
}

function fitZoom() {
  const vp = $("viewport");
  const pad = 2;
  return Math.min((vp.clientWidth - pad) / state.size.w, (vp.clientHeight - pad) / state.size.h);
}

function currentZoom() {
  return state.zoom === "fit" ? fitZoom() : state.zoom;
}

function applyZoom() {
  if (!state.size) return;
  const z = currentZoom();
  const stage = $("stage");
  stage.style.width = `${Math.round(state.size.w * z)}px`;
  stage.style.height = `${Math.round(state.size.h * z)}px`;
  // Enlarged pixels stay square, so detail (or its absence) is what you see, not the browser's blur.
  stage.classList.toggle("pixels", z >= 2);
  $("zoom-level").textContent = state.zoom === "fit" ? `Fit (${Math.round(z * 100)}%)` : `${Math.round(z * 100)}%`;
}

// Zoom to `z`, keeping the image point under (clientX, clientY) where it is; the centre by default.
function zoomTo(z, clientX, clientY) {
  if (!state.size) return;
  const vp = $("viewport");
  const vr = vp.getBoundingClientRect();
  const cx = clientX ?? vr.left + vr.width / 2;
  const cy = clientY ?? vr.top + vr.height / 2;
  const before = $("stage").getBoundingClientRect();
  const fx = (cx - before.left) / before.width;
  const fy = (cy - before.top) / before.height;
  state.zoom = typeof z === "number" ? Math.min(32, Math.max(0.05, z)) : z;
  applyZoom();
  const after = $("stage").getBoundingClientRect();
  vp.scrollLeft += after.left + fx * after.width - cx;
  vp.scrollTop += after.top + fy * after.height - cy;
}

function splitFromPointer(event) {
  const rect = $("stage").getBoundingClientRect();
  setSplit(((event.clientX - rect.left) / rect.width) * 100);
}

// ------------------------------------------------------------------------------------------ errors

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

// ------------------------------------------------------------------------------------------- wiring

function wire() {
  $("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    document.addEventListener(type, (e) => {
      e.preventDefault();
      if (type === "drop" || e.relatedTarget === null) drop.classList.remove("dragging");
    });
  }
  document.addEventListener("drop", (e) => chooseFile(e.dataTransfer.files[0]));

  for (const radio of document.querySelectorAll('input[name="task"]')) radio.addEventListener("change", updateTask);
  $("model").addEventListener("change", () => { updateSigma(); updateRunButton(); });
  for (const radio of document.querySelectorAll('input[name="sigma-mode"]')) radio.addEventListener("change", updateSigma);
  $("run").addEventListener("click", run);

  const stage = $("stage");
  stage.addEventListener("pointerdown", (e) => {
    stage.setPointerCapture(e.pointerId);
    splitFromPointer(e);
  });
  stage.addEventListener("pointermove", (e) => {
    if (stage.hasPointerCapture(e.pointerId)) splitFromPointer(e);
  });
  $("split").addEventListener("input", (e) => setSplit(Number(e.target.value)));

  $("viewport").addEventListener("wheel", (e) => {
    if (!state.size || !(e.ctrlKey || e.metaKey)) return;  // a plain wheel scrolls (pans)
    e.preventDefault();
    zoomTo(currentZoom() * (e.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP), e.clientX, e.clientY);
  }, { passive: false });
  $("zoom-in").addEventListener("click", () => zoomTo(currentZoom() * ZOOM_STEP));
  $("zoom-out").addEventListener("click", () => zoomTo(currentZoom() / ZOOM_STEP));
  $("zoom-fit").addEventListener("click", () => zoomTo("fit"));
  $("zoom-1").addEventListener("click", () => zoomTo(1));
  window.addEventListener("resize", () => { if (state.zoom === "fit") applyZoom(); });
  document.addEventListener("keydown", (e) => {
    if (!state.size || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.closest("input, select, textarea")) return;
    const actions = { "+": () => zoomTo(currentZoom() * ZOOM_STEP), "=": () => zoomTo(currentZoom() * ZOOM_STEP),
      "-": () => zoomTo(currentZoom() / ZOOM_STEP), "0": () => zoomTo("fit"), "1": () => zoomTo(1) };
    if (actions[e.key]) { e.preventDefault(); actions[e.key](); }
  });
}

wire();
loadModels();
watchReadiness();
