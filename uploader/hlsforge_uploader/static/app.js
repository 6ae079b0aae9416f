// hlsforge dashboard: upload with progress, a live job table, an HLS player.
// Plain JS, no framework. The token lives in sessionStorage only; every call sends it.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem("hlsforge-token") || "", jobs: new Map(), rv: null, ws: null, hls: null };
window.hlsforge = state; // read by the browser test (hls levels, jobs)

function showLogin(message) {
  $("#login").hidden = false;
  $("#app").hidden = true;
  $("#signout").hidden = true;
  $("#login-error").textContent = message || "";
}

async function signIn(token) {
  const res = await fetch("/v1/jobs?limit=1", { headers: { Authorization: `Bearer ${token}` } });
  if (res.status === 401) { showLogin("That token was refused."); return; }
  state.token = token;
  sessionStorage.setItem("hlsforge-token", token);
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#signout").hidden = false;
  connect();
}

// ---- upload -------------------------------------------------------------------------------
function upload(file) {
  const xhr = new XMLHttpRequest();
  const key = crypto.randomUUID(); // one key per file: a retry can never create a second job
  const options = $("#options").value.trim();
  xhr.open("POST", options ? `/v1/uploads?options=${encodeURIComponent(options)}` : "/v1/uploads");
  xhr.setRequestHeader("Authorization", `Bearer ${state.token}`);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.setRequestHeader("Idempotency-Key", key);
  const setProgress = (pct) => {
    $("#upload-progress").value = pct;
    $("#upload-percent").textContent = `${Math.floor(pct)}%`;
  };
  setProgress(0);
  $("#upload-status").textContent = "uploading…";
  $("#upload-button").disabled = true;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) setProgress((100 * e.loaded) / e.total); };
  xhr.upload.onload = () => { setProgress(100); $("#upload-status").textContent = "checking…"; };
  xhr.onload = () => {
    $("#upload-button").disabled = false;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status === 201) {
      $("#upload-status").textContent = `created job ${body.id}`;
      if (body.job) upsert(body.job);
    } else if (xhr.status === 401) {
      showLogin("The token was refused.");
    } else {
      $("#upload-status").textContent = `refused: ${body.detail || xhr.status}`;
    }
  };
  xhr.onerror = () => { $("#upload-button").disabled = false; $("#upload-status").textContent = "network error"; };
  xhr.send(file);
}

// ---- live jobs ----------------------------------------------------------------------------
function fmt(value, suffix, digits = 1) {
  return value === null || value === undefined ? "" : `${Number(value).toFixed(digits)}${suffix}`;
}

function upsert(job) {
  const known = state.jobs.get(job.id);
  if (known && known.resourceVersion && job.resourceVersion && Number(known.resourceVersion) > Number(job.resourceVersion)) return;
  state.jobs.set(job.id, job);
  render();
}

function render() {
  const tbody = $("#jobs tbody");
  const rows = [...state.jobs.values()].sort((a, b) => (b.createdAt || "").localeCompare(a.createdAt || ""));
  tbody.replaceChildren(...rows.map((job) => {
    const tr = document.createElement("tr");
    tr.dataset.job = job.id;
    const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; };
    const progress = document.createElement("td");
    const bar = document.createElement("progress");
    bar.max = 100; bar.value = job.progress || 0;
    progress.append(bar, ` ${fmt(job.progress, "%", 0)}`);
    progress.className = "progress";
    const action = document.createElement("td");
    if (job.phase === "Succeeded") {
      const play = document.createElement("button");
      play.type = "button"; play.textContent = "Play"; play.className = "play";
      play.onclick = () => playJob(job);
      action.append(play);
    }
    tr.append(
      cell(job.id, "id"), cell(job.phase, `phase phase-${job.phase}`), progress,
      cell(fmt(job.speed, "×", 2), "speed"), cell(job.eta === null || job.eta === undefined ? "" : `${job.eta}s`, "eta"),
      cell(String(job.attempts ?? 0), "attempts"), action,
    );
    if (job.phase === "Failed" && job.message) tr.title = job.message;
    return tr;
  }));
}

function connect() {
  if (state.ws) state.ws.close();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = state.rv ? `?resourceVersion=${encodeURIComponent(state.rv)}` : "";
  const ws = new WebSocket(`${scheme}://${location.host}/v1/events${query}`, ["hlsforge.v1", `bearer.${state.token}`]);
  state.ws = ws;
  ws.onopen = () => { $("#connection").textContent = "live"; };
  ws.onmessage = (msg) => {
    const event = JSON.parse(msg.data);
    if (event.resourceVersion) state.rv = event.resourceVersion;
    if (event.type === "snapshot") {
      state.jobs.clear();
      event.jobs.forEach((job) => state.jobs.set(job.id, job));
      render();
    } else if (event.type === "DELETED") {
      state.jobs.delete(event.job.id);
      render();
    } else {
      upsert(event.job);
    }
  };
  let opened = false;
  ws.addEventListener("open", () => { opened = true; });
  ws.onclose = async () => {
    if (state.ws !== ws) return;
    $("#connection").textContent = "reconnecting…";
    if (!opened) { // a refused handshake: is it the token (rotated Secret)?
      const res = await fetch("/v1/jobs?limit=1", { headers: { Authorization: `Bearer ${state.token}` } }).catch(() => null);
      if (res && res.status === 401) { showLogin("The token was refused."); return; }
    }
    setTimeout(connect, 1000); // resumes from state.rv
  };
}

// ---- player -------------------------------------------------------------------------------
function playJob(job) {
  $("#player-section").hidden = false;
  $("#player-job").textContent = job.id;
  const video = $("#player");
  if (state.hls) state.hls.destroy();
  const select = $("#rendition");
  select.replaceChildren(new Option("Auto", "-1"));
  if (!window.Hls || !Hls.isSupported()) { $("#level-info").textContent = "this browser cannot play HLS via MSE"; return; }
  // The token goes to this service only: with S3 redirect delivery, segment URIs are presigned
  // URLs of the object store, which refuses a second credential (and must never see ours).
  const ours = (url) => new URL(url, location.href).origin === location.origin;
  const hls = new Hls({ xhrSetup: (xhr, url) => { if (ours(url)) xhr.setRequestHeader("Authorization", `Bearer ${state.token}`); } });
  state.hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
    data.levels.forEach((level, index) => select.append(new Option(`${level.height}p · ${Math.round(level.bitrate / 1000)} kb/s`, String(index))));
    video.play().catch(() => { /* autoplay may be refused; the controls remain */ });
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    const level = hls.levels[data.level];
    $("#level-info").textContent = level ? `playing ${level.height}p` : "";
  });
  hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) $("#level-info").textContent = `playback error: ${data.details}`; });
  hls.loadSource(job.playbackUrl);
  hls.attachMedia(video);
}

// ---- wiring -------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("#token").value.trim()); });
  $("#signout").addEventListener("click", () => { sessionStorage.removeItem("hlsforge-token"); state.token = ""; if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); } showLogin(); });
  $("#upload-form").addEventListener("submit", (e) => { e.preventDefault(); const file = $("#file").files[0]; if (file) upload(file); });
  $("#rendition").addEventListener("change", (e) => { if (state.hls) state.hls.currentLevel = Number(e.target.value); });
  if (state.token) signIn(state.token); else showLogin();
});
