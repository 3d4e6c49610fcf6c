// vedere playground: the page only draws and sends settings; every number is computed by
// vedere on the server (its NumPy engine trains the network, its cascade finds the faces).
"use strict";

const PALETTE = [[245, 147, 34], [8, 119, 189], [44, 160, 44]];
const FIELDS = ["dataset", "noise", "n_points", "test_fraction", "seed", "layers", "activation",
  "init", "optimizer", "lr", "batch_size", "l1", "l2", "dropout"];
const $ = (id) => document.getElementById(id);

// What the end-to-end tests (and a curious reader in the console) can look at.
const state = window.vedere = {
  session: null, frames: 0, frame: null, points: null, running: false,
  history: [], info: null, events: null,
};

// ---------------------------------------------------------------- helpers
function bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function showMessage(id, text, kind) {
  const el = $(id);
  el.textContent = text || "";
  el.hidden = !text;
  el.className = "message" + (kind === "info" ? " info" : "");
}

async function api(path, options = {}) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = { error: `${res.status} ${res.statusText}` }; }
  if (!res.ok) {
    const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.field = body && body.field;
    throw err;
  }
  return body;
}

// The session's commands go to the server one after another, in the order they were given
// (a settings change sent before Start must not arrive after it).
let queue = Promise.resolve();
function inOrder(fn) {
  const done = queue.then(fn);
  queue = done.catch(() => {});
  return done;
}

function post(path, data) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data || {}) });
}

const fmt = (v) => (v === null || v === undefined ? "–"
  : v !== 0 && Math.abs(v) < 0.01 ? Number(v).toExponential(2) : Number(v).toFixed(3));
const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");

// ---------------------------------------------------------------- tabs
for (const tab of document.querySelectorAll("nav button")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll("nav button")) {
      t.setAttribute("aria-selected", String(t === tab));
      $(t.dataset.panel).hidden = t !== tab;
    }
    if (tab.id !== "tab-faces" && state.camera && state.camera.stream) stopCamera();
  });
}

// ---------------------------------------------------------------- training tab
function fillSelect(id, options) {
  const sel = $(id);
  sel.innerHTML = "";
  for (const o of options) {
    const opt = document.createElement("option");
    opt.value = opt.textContent = o;
    sel.appendChild(opt);
  }
}

// Show the server's settings: all of them (fields = FIELDS), or only those just sent, so
// that an answer arriving while another field is being edited never overwrites its text.
function showConfig(config, fields = FIELDS) {
  for (const f of fields) {
    const el = $(f);
    el.value = f === "layers" ? config.layers.join(", ") : config[f];
    el.classList.remove("invalid");
    const out = document.querySelector(`output[for="${f}"]`);
    if (out) out.textContent = el.value;
  }
}

function readField(f) {
  const el = $(f);
  if (el.tagName === "SELECT") return el.value;
  if (f === "layers") return el.value;
  return el.value.trim() === "" ? el.value : (isNaN(Number(el.value)) ? el.value : Number(el.value));
}

async function sendConfig(field) {
  const out = document.querySelector(`output[for="${field}"]`);
  if (out) out.textContent = $(field).value;
  const value = readField(field);
  return inOrder(() => applyConfig(field, value));
}

async function applyConfig(field, value) {
  try {
    const res = await post(`/api/sessions/${state.session}/config`, { [field]: value });
    showConfig(res.config, [field]);
    showMessage("train-message", "");
    setRunning(false);
  } catch (e) {
    $(field).classList.add("invalid");
    showMessage("train-message", e.message);
  }
}

function setRunning(running) {
  state.running = running;
  $("start").textContent = running ? "Pause" : "Start";
  $("step").disabled = running;
}

function command(name) {
  return inOrder(() => runCommand(name));
}

async function runCommand(name) {
  // an old message goes now; what this command causes (a divergence, streamed as a frame
  // that may arrive before this answer) stays
  if (name !== "pause") showMessage("train-message", "");
  try {
    const res = await post(`/api/sessions/${state.session}/${name}`);
    setRunning(res.running);
  } catch (e) {
    showMessage("train-message", e.message);
  }
}

function drawPlane() {
  const frame = state.frame, points = state.points;
  const canvas = $("plane"), ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (frame && frame.regions) {
    const n = frame.grid, k = points ? points.classes : 2;
    const cls = bytes(frame.regions), conf = bytes(frame.confidence);
    const img = new ImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const c = PALETTE[cls[i] % PALETTE.length];
      const t = Math.max(0, (conf[i] / 255 - 1 / k) / (1 - 1 / k)) * 0.75;
      for (let j = 0; j < 3; j++) img.data[4 * i + j] = Math.round(255 + (c[j] - 255) * t);
      img.data[4 * i + 3] = 255;
    }
    const off = document.createElement("canvas");
    off.width = off.height = n;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  }
  if (!points) return;
  const e = state.info.extent;
  const px = (x) => ((x + e) / (2 * e)) * canvas.width;
  const py = (y) => ((e - y) / (2 * e)) * canvas.height;
  const draw = (list, test) => {
    for (const [x, y, c] of list) {
      const col = PALETTE[c % PALETTE.length];
      ctx.beginPath();
      ctx.arc(px(x), py(y), 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${col.join(",")})`;
      ctx.fill();
      ctx.lineWidth = test ? 1.5 : 1;
      ctx.strokeStyle = test ? "#000" : "#fff";
      ctx.stroke();
    }
  };
  draw(points.train, false);
  if ($("show-test").checked) draw(points.test, true);
}

function drawCurves() {
  const canvas = $("curves"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  const hist = state.history.filter((r) => r[1] !== null && r[2] !== null);
  ctx.fillStyle = "#666";
  ctx.font = "11px sans-serif";
  if (hist.length < 1) { ctx.fillText("loss curves appear while training", pad, h / 2); return; }
  const maxE = Math.max(1, hist[hist.length - 1][0]);
  const maxL = Math.max(1e-6, ...hist.map((r) => Math.max(r[1], r[2])));
  const X = (ep) => pad + (ep / maxE) * (w - pad - 6);
  const Y = (l) => h - pad + 8 - (l / maxL) * (h - pad - 4);
  ctx.strokeStyle = "#ccc";
  ctx.beginPath(); ctx.moveTo(pad, 4); ctx.lineTo(pad, h - pad + 8); ctx.lineTo(w - 4, h - pad + 8); ctx.stroke();
  ctx.fillText(maxL.toFixed(2), 2, 12);
  ctx.fillText("0", 14, h - pad + 8);
  ctx.fillText(`epoch ${maxE}`, w - 70, h - 6);
  for (const [col, k] of [["#999", 1], ["#222", 2]]) {
    ctx.strokeStyle = col;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    hist.forEach((r, i) => (i ? ctx.lineTo(X(r[0]), Y(r[k])) : ctx.moveTo(X(r[0]), Y(r[k]))));
    ctx.stroke();
  }
}

function drawNeurons() {
  const frame = state.frame, box = $("neurons");
  if (!frame || !frame.neurons) return;
  const n = frame.neuron_grid;
  const shape = frame.neurons.map((l) => l.length).join(",");
  if (box.dataset.shape !== shape) {
    box.innerHTML = "";
    frame.neurons.forEach((layer, li) => {
      const col = document.createElement("div");
      col.className = "layer";
      const title = document.createElement("h3");
      title.textContent = `layer ${li + 1}`;
      col.appendChild(title);
      layer.forEach(() => {
        const c = document.createElement("canvas");
        c.width = c.height = n;
        col.appendChild(c);
      });
      box.appendChild(col);
    });
    box.dataset.shape = shape;
    if (!frame.neurons.length) box.textContent = "no hidden layer: a linear classifier";
  }
  const cols = box.querySelectorAll(".layer");
  frame.neurons.forEach((layer, li) => {
    const canvases = cols[li].querySelectorAll("canvas");
    layer.forEach((b64, u) => {
      const v = bytes(b64), img = new ImageData(n, n);
      for (let i = 0; i < n * n; i++) {
        const s = v[i] / 127.5 - 1, c = s >= 0 ? PALETTE[1] : PALETTE[0], t = Math.abs(s);
        for (let j = 0; j < 3; j++) img.data[4 * i + j] = Math.round(255 + (c[j] - 255) * t);
        img.data[4 * i + 3] = 255;
      }
      canvases[u].getContext("2d").putImageData(img, 0, 0);
    });
  });
}

function onFrame(frame) {
  if (frame.new_run) state.history = [];
  state.history.push(...frame.history);
  state.frame = frame;
  state.frames += 1;
  $("epoch").textContent = frame.epoch;
  $("train-loss").textContent = fmt(frame.train_loss);
  $("test-loss").textContent = fmt(frame.test_loss);
  $("train-acc").textContent = pct(frame.train_acc);
  $("test-acc").textContent = pct(frame.test_acc);
  if (frame.diverged) showMessage("train-message", frame.message);
  setRunning(frame.running);
  drawPlane();
  drawCurves();
  drawNeurons();
}

function onPoints(points) {
  state.points = points;
  $("point-count").textContent = `${points.train.length} training / ${points.test.length} test points`;
  for (const el of document.querySelectorAll(".class-2")) el.hidden = points.classes < 3;
  drawPlane();
}

function listen() {
  const es = state.events = new EventSource(`/api/sessions/${state.session}/events`);
  es.addEventListener("frame", (ev) => onFrame(JSON.parse(ev.data)));
  es.addEventListener("data", (ev) => onPoints(JSON.parse(ev.data)));
  es.addEventListener("closed", () => {
    es.close();
    showMessage("train-message", "This session was closed: reload the page to start a new one.");
  });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      showMessage("train-message", "Lost the connection to the server: reload the page.");
    }
  };
}

async function startTraining() {
  const info = state.info = await api("/api/info");
  fillSelect("dataset", info.datasets);
  fillSelect("activation", info.activations);
  fillSelect("init", info.inits);
  fillSelect("optimizer", info.optimizers);
  const res = await post("/api/sessions", {});
  state.session = res.id;
  showConfig(res.config);
  for (const f of FIELDS) $(f).addEventListener("change", () => sendConfig(f));
  for (const f of ["noise", "test_fraction"]) {
    $(f).addEventListener("input", () => { document.querySelector(`output[for="${f}"]`).textContent = $(f).value; });
  }
  const editLayers = (edit) => {
    const units = $("layers").value.split(",").map((v) => v.trim()).filter((v) => v !== "");
    edit(units);
    $("layers").value = units.join(", ");
    sendConfig("layers");
  };
  $("add-layer").addEventListener("click", () => editLayers((u) => u.push(u.length ? u[u.length - 1] : "4")));
  $("remove-layer").addEventListener("click", () => editLayers((u) => u.pop()));
  $("start").addEventListener("click", () => command(state.running ? "pause" : "start"));
  $("step").addEventListener("click", () => command("step"));
  $("reset").addEventListener("click", () => command("reset"));
  $("show-test").addEventListener("change", drawPlane);
  $("plane").addEventListener("click", async (ev) => {
    const c = $("plane"), r = c.getBoundingClientRect(), e = info.extent;
    const x = ((ev.clientX - r.left) / r.width) * 2 * e - e;
    const y = e - ((ev.clientY - r.top) / r.height) * 2 * e;
    const label = Number(document.querySelector('input[name="click-class"]:checked').value);
    inOrder(() => post(`/api/sessions/${state.session}/points`, { x, y, label }))
      .catch((err) => showMessage("train-message", err.message));
  });
  window.addEventListener("pagehide", () => navigator.sendBeacon(`/api/sessions/${state.session}/close`));
  listen();
}

// ---------------------------------------------------------------- image tab
async function upload(path, blob, name) {
  return api(path, { method: "POST", body: blob,
    headers: { "Content-Type": "application/octet-stream", "X-Filename": encodeURIComponent(name).slice(0, 200) } });
}

async function classify(blob, name) {
  showMessage("classify-message", "");
  $("top5").innerHTML = "";
  try {
    const res = await upload("/api/classify", blob, name);
    const img = $("image-preview");
    img.src = URL.createObjectURL(blob);
    img.hidden = false;
    for (const { class: cls, probability: p } of res.top) {
      const li = document.createElement("li");
      li.innerHTML = '<span class="cls"></span><span class="bar-box"><span class="bar"></span></span><span class="p"></span>';
      li.querySelector(".cls").textContent = cls;
      li.querySelector(".bar").style.display = "block";
      li.querySelector(".bar").style.width = `${(100 * p).toFixed(1)}%`;
      li.querySelector(".p").textContent = `${(100 * p).toFixed(1)}%`;
      li.dataset.probability = p;
      $("top5").appendChild(li);
    }
  } catch (e) {
    $("image-preview").hidden = true;
    showMessage("classify-message", e.message);
  }
}

async function setupImages() {
  $("image-file").addEventListener("change", (ev) => {
    const f = ev.target.files[0];
    if (f) classify(f, f.name);
  });
  const info = state.info || (await api("/api/info"));
  $("model-name").textContent = info.model;
  const samples = await api("/api/samples");
  for (const s of samples) {
    const b = document.createElement("button"), img = document.createElement("img");
    const label = document.createElement("span");
    b.title = `a CIFAR-10 ${s.class}`;
    img.src = `/api/samples/${s.index}.png`;
    img.alt = label.textContent = s.class;
    b.append(img, label);
    b.addEventListener("click", async () => {
      const blob = await (await fetch(`/api/samples/${s.index}.png`)).blob();
      classify(blob, `${s.class}.png`);
    });
    $("samples").appendChild(b);
  }
}

// ---------------------------------------------------------------- faces tab
async function findFaces(file) {
  showMessage("faces-message", "");
  $("face-result").textContent = "looking for faces…";
  try {
    const res = await upload("/api/detect", file, file.name);
    const img = new Image();
    img.src = URL.createObjectURL(file);
    await img.decode();
    const canvas = $("face-canvas"), f = Math.min(1, 640 / res.width);
    canvas.width = Math.round(res.width * f);
    canvas.height = Math.round(res.height * f);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 3;
    ctx.strokeStyle = "#39ff14";
    for (const b of res.boxes) ctx.strokeRect(b.x * f, b.y * f, b.w * f, b.h * f);
    state.faces = res;
    const n = res.boxes.length;
    $("face-result").textContent = `${n} face${n === 1 ? "" : "s"} found in ${res.seconds.toFixed(2)} s ` +
      `(${res.width}×${res.height}, scanned at ${res.scanned[0]}×${res.scanned[1]})`;
  } catch (e) {
    $("face-result").textContent = "";
    showMessage("faces-message", e.message);
  }
}

$("face-file").addEventListener("change", (ev) => {
  const f = ev.target.files[0];
  if (f) findFaces(f);
});

// ---------------------------------------------------------------- faces tab: camera
// The camera's frames go to /api/detect one at a time (the next is sent when the answer to
// the last has come), so a page never has more than one detection waiting on the server,
// whose upload caps and detection slots apply as to any upload. A "busy" answer (503) is
// retried after a pause.
const CAMERA_SIDE = 480;
const camera = state.camera = { running: false, frames: 0, boxes: [], fps: 0, sent: null, stream: null, times: [] };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function grab(video) {
  const f = Math.min(1, CAMERA_SIDE / Math.max(video.videoWidth, video.videoHeight));
  const c = document.createElement("canvas");
  c.width = Math.max(1, Math.round(video.videoWidth * f));
  c.height = Math.max(1, Math.round(video.videoHeight * f));
  c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
  return new Promise((resolve) => c.toBlob((b) => resolve([b, c.width, c.height]), "image/jpeg", 0.85));
}

function drawCameraBoxes(boxes, width) {
  const video = $("camera-video"), overlay = $("camera-overlay");
  overlay.width = video.videoWidth;
  overlay.height = video.videoHeight;
  const ctx = overlay.getContext("2d"), f = video.videoWidth / width;
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  ctx.lineWidth = Math.max(2, Math.round(overlay.width / 200));
  ctx.strokeStyle = "#39ff14";
  for (const b of boxes) ctx.strokeRect(b.x * f, b.y * f, b.w * f, b.h * f);
}

async function cameraLoop() {
  const video = $("camera-video");
  while (camera.running) {
    if (!video.videoWidth || video.readyState < 2) { await sleep(50); continue; }
    const [blob, w, h] = await grab(video);
    if (!camera.running) break;
    try {
      const res = await upload("/api/detect", blob, "camera.jpg");
      if (!camera.running) break;
      const now = performance.now();
      camera.times = camera.times.filter((t) => now - t < 2000).concat([now]);
      const span = (now - camera.times[0]) / 1000;
      camera.fps = camera.times.length > 1 ? (camera.times.length - 1) / span : 0;
      camera.frames += 1;
      camera.boxes = res.boxes;
      camera.sent = [w, h];
      if (res.boxes.length) camera.framesWithBoxes = (camera.framesWithBoxes || 0) + 1;
      drawCameraBoxes(res.boxes, w);
      const n = res.boxes.length;
      $("camera-status").textContent = `${n} face${n === 1 ? "" : "s"} · ${camera.fps.toFixed(1)} frames/s ` +
        `(${w}×${h}, ${(1000 * res.seconds).toFixed(0)} ms to scan)`;
      showMessage("faces-message", "");
    } catch (e) {
      if (e.status === 503) { showMessage("faces-message", e.message, "info"); await sleep(1000); continue; }
      showMessage("faces-message", e.message);
      stopCamera();
    }
  }
}

async function startCamera() {
  showMessage("faces-message", "");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showMessage("faces-message", "This browser gives no camera here (the page must be served from " +
      "localhost or a TLS address).");
    return;
  }
  try {
    camera.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (e) {
    showMessage("faces-message", `No camera: ${e.message || e.name}`);
    return;
  }
  const video = $("camera-video");
  video.srcObject = camera.stream;
  await video.play().catch(() => {});
  camera.running = true;
  camera.times = [];
  $("camera-toggle").textContent = "Stop camera";
  cameraLoop();
}

function stopCamera() {
  camera.running = false;
  if (camera.stream) for (const t of camera.stream.getTracks()) t.stop();
  camera.stream = null;
  $("camera-video").srcObject = null;
  $("camera-toggle").textContent = "Start camera";
  const overlay = $("camera-overlay");
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
}

$("camera-toggle").addEventListener("click", () => (camera.stream ? stopCamera() : startCamera()));
for (const radio of document.querySelectorAll('input[name="face-mode"]')) {
  radio.addEventListener("change", () => {
    const cam = radio.value === "camera" && radio.checked;
    $("face-camera").hidden = !cam;
    $("face-upload").hidden = cam;
    if (!cam) stopCamera();
  });
}

startTraining()
  .then(setupImages)
  .catch((e) => showMessage("train-message", `Could not start: ${e.message}`));
