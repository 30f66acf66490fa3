// lookalike studio: a thin client of the public HTTP API (no private endpoints).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "lookalike.apiKey";
const MAX_PHOTOS = 10;
const POLL_MS = 500;

const state = {
  key: localStorage.getItem(KEY_STORAGE) || "",
  photos: [], // {file, url, status: checking|ok|bad, message, crop}
  presets: [],
  tunes: [],
};

class ApiError extends Error {
  constructor(status, body) {
    // Error bodies are Astria's shape: "error" is the message, our fields ("code", "hint"...) beside it.
    const err = body && body.code ? body : { code: `http_${status}`, message: `The server answered ${status}.` };
    super(err.message);
    Object.assign(this, { status, code: err.code, field: err.field, hint: err.hint, imageIndex: err.image_index });
  }
  describe() {
    return `${this.message}${this.hint ? " " + this.hint : ""} (${this.code})`;
  }
}

async function api(path, { method = "GET", json, form } = {}) {
  const headers = {};
  if (state.key) headers.Authorization = `Bearer ${state.key}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body });
  } catch (e) {
    throw new ApiError(0, { error: { code: "network", message: "The server cannot be reached." } });
  }
  const type = res.headers.get("content-type") || "";
  if (!res.ok) {
    let parsed = null;
    if (type.includes("json")) parsed = await res.json().catch(() => null);
    throw new ApiError(res.status, parsed);
  }
  if (type.includes("json")) return res.json();
  return res.blob();
}

function say(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

// ---- API key ----------------------------------------------------------------

async function useKey(key) {
  state.key = key.trim();
  localStorage.setItem(KEY_STORAGE, state.key);
  $("api-key").value = state.key;
  if (!state.key) {
    say($("key-status"), "Paste a key, or create one.", true);
    return;
  }
  try {
    await refreshAll();
    say($("key-status"), "Key accepted.");
  } catch (e) {
    say($("key-status"), e.status === 401 ? "This key is not valid." : e.describe(), true);
  }
}

async function createKey() {
  try {
    const made = await api("/keys", { method: "POST", json: { name: "studio" } });
    $("api-key").type = "text";
    await useKey(made.key);
    say($("key-status"), "A new key was created and saved in this browser. Copy it now: it is shown only once.");
  } catch (e) {
    say($("key-status"), e.describe(), true);
  }
}

// ---- photos and their face checks -------------------------------------------

function addFiles(files) {
  const room = MAX_PHOTOS - state.photos.length;
  const picked = Array.from(files).slice(0, Math.max(room, 0));
  if (files.length > picked.length) say($("tune-status"), `A tune takes at most ${MAX_PHOTOS} photos; extra ones were left out.`, true);
  for (const file of picked) {
    const photo = { file, url: URL.createObjectURL(file), status: "checking", message: "Checking the face..." };
    state.photos.push(photo);
    checkPhoto(photo);
  }
  renderPhotos();
}

async function checkPhoto(photo) {
  const form = new FormData();
  form.append("image", photo.file);
  // The same position POST /tunes will report, so both speak of the same "photo N".
  form.append("index", String(Math.max(state.photos.indexOf(photo), 0)));
  try {
    const result = await api("/faces/check", { method: "POST", form });
    photo.status = result.ok ? "ok" : "bad";
    photo.crop = result.crop;
    photo.message = result.ok ? `Face found (${Math.round(result.face.quality.size_px)} px, sharpness ${Math.round(result.face.quality.sharpness)})` : result.error.message;
  } catch (e) {
    photo.status = "bad";
    photo.message = e.describe();
  }
  renderPhotos();
}

function renderPhotos() {
  const list = $("photo-list");
  list.replaceChildren(
    ...state.photos.map((photo, i) =>
      el("li", { class: `photo ${photo.status}`, "data-index": String(i) },
        el("div", { class: "pair" },
          el("img", { src: photo.url, alt: `photo ${i + 1}` }),
          photo.crop ? el("img", { src: photo.crop, alt: `face found in photo ${i + 1}` }) : el("span")),
        el("span", { class: `verdict ${photo.status}` }, photo.message),
        el("button", { type: "button", class: "secondary", onclick: () => removePhoto(i), "aria-label": `remove photo ${i + 1}` }, "Remove"))
    )
  );
  const ready = state.photos.length > 0 && state.photos.every((p) => p.status === "ok");
  $("tune-submit").disabled = !ready;
}

function removePhoto(i) {
  URL.revokeObjectURL(state.photos[i].url);
  state.photos.splice(i, 1);
  renderPhotos();
}

async function createTune(event) {
  event.preventDefault();
  const form = new FormData();
  form.append("tune[title]", $("tune-title").value);
  form.append("tune[name]", $("tune-class").value);
  form.append("tune[base_tune_id]", $("tune-base").value);
  form.append("tune[model_type]", "faceid");
  for (const photo of state.photos) form.append("tune[images][]", photo.file);
  say($("tune-status"), "Creating the tune...");
  $("tune-submit").disabled = true;
  try {
    const tune = await api("/tunes", { method: "POST", form });
    say($("tune-status"), `Tune ${tune.id} "${tune.title}" is ready. Use <faceid:${tune.id}:1.0> in a prompt.`);
    state.photos.forEach((p) => URL.revokeObjectURL(p.url));
    state.photos = [];
    renderPhotos();
    await refreshTunes();
    $("prompt-tune").value = String(tune.id);
  } catch (e) {
    if (e.imageIndex != null && state.photos[e.imageIndex]) {
      Object.assign(state.photos[e.imageIndex], { status: "bad", message: e.describe() });
      renderPhotos();
    }
    say($("tune-status"), e.describe(), true);
    $("tune-submit").disabled = false;
  }
}

// ---- prompts -----------------------------------------------------------------

function selectedTune() {
  return state.tunes.find((t) => String(t.id) === $("prompt-tune").value);
}

function applyPreset(preset) {
  const tune = selectedTune();
  if (!tune) {
    say($("prompt-status"), "Make or pick a tune first.", true);
    return;
  }
  $("prompt-text").value = preset.text.replaceAll("{ID}", tune.id).replaceAll("{CLASS}", tune.name);
  $("prompt-negative").value = preset.negative_prompt;
  say($("prompt-status"), `Preset "${preset.title}" for tune ${tune.id}.`);
  $("prompt-text").focus();
}

function promptFields() {
  const fields = {
    text: $("prompt-text").value,
    negative_prompt: $("prompt-negative").value,
    num_images: Number($("num-images").value),
    steps: Number($("steps").value),
    cfg_scale: Number($("cfg").value),
    scheduler: $("scheduler").value,
  };
  if ($("seed").value !== "") fields.seed = Number($("seed").value);
  for (const [flag, id] of [["face_swap", "face-swap"], ["face_correct", "face-correct"], ["super_resolution", "super-resolution"]]) {
    if ($(id).checked) fields[flag] = true;
  }
  if ($("aspect").value) fields.aspect_ratio = $("aspect").value;
  return fields;
}

async function createPrompt(event) {
  event.preventDefault();
  const tune = selectedTune();
  if (!tune) {
    say($("prompt-status"), "Make or pick a tune first.", true);
    return;
  }
  $("prompt-submit").disabled = true;
  $("results").replaceChildren();
  try {
    let prompt = await api(`/tunes/${tune.id}/prompts`, { method: "POST", json: { prompt: promptFields() } });
    say($("prompt-status"), `Prompt ${prompt.id}: ${prompt.status}...`);
    while (prompt.status === "queued" || prompt.status === "processing") {
      await new Promise((r) => setTimeout(r, POLL_MS));
      prompt = await api(`/tunes/${tune.id}/prompts/${prompt.id}`);
      say($("prompt-status"), `Prompt ${prompt.id}: ${prompt.status}...`);
    }
    if (prompt.status === "failed") {
      say($("prompt-status"), `Prompt ${prompt.id} failed: ${prompt.error ? prompt.error.message : "unknown reason"}`, true);
    } else {
      say($("prompt-status"), `Prompt ${prompt.id} succeeded: ${prompt.images.length} image(s).`);
      await showImages(prompt, $("results"));
    }
    refreshPrompts();
  } catch (e) {
    say($("prompt-status"), e.describe(), true);
  } finally {
    $("prompt-submit").disabled = false;
  }
}

async function showImages(prompt, container) {
  const details = prompt.image_details && prompt.image_details.length ? prompt.image_details : prompt.images.map((url) => ({ url }));
  const figures = await Promise.all(
    details.map(async (d, i) => {
      const blob = await api(d.url);
      const url = URL.createObjectURL(blob);
      const score = d.identity_score == null ? "identity: no face in image" : `identity ${Number(d.identity_score).toFixed(3)}`;
      return el("figure", {},
        el("img", { src: url, alt: `image ${i + 1} of prompt ${prompt.id}` }),
        el("figcaption", {},
          el("span", { class: "score" }, score),
          el("a", { href: url, download: `lookalike-prompt-${prompt.id}-${i + 1}.png` }, "Download")),
        d.postprocess ? el("p", { class: "finishing-note" }, d.postprocess) : null);
    })
  );
  container.replaceChildren(...figures);
}

// ---- gallery -----------------------------------------------------------------

async function refreshTunes() {
  state.tunes = await api("/tunes?limit=120");
  const current = $("prompt-tune").value;
  $("prompt-tune").replaceChildren(
    ...(state.tunes.length
      ? state.tunes.map((t) => el("option", { value: String(t.id) }, `${t.id}: ${t.title} (${t.name})`))
      : [el("option", { value: "" }, "No tunes yet: make one above")])
  );
  if (current && state.tunes.some((t) => String(t.id) === current)) $("prompt-tune").value = current;
  $("tune-list").replaceChildren(
    ...(state.tunes.length ? [] : [el("li", { class: "empty" }, "No tunes yet.")]),
    ...state.tunes.map((t) =>
      el("li", {},
        el("span", {}, `${t.id}: ${t.title} - ${t.images.length} photo(s), ${t.base_model}`),
        el("button", { type: "button", onclick: () => removeItem(`/tunes/${t.id}`, `tune ${t.id}`), "aria-label": `delete tune ${t.id}` }, "Delete")))
  );
}

async function refreshPrompts() {
  const prompts = await api("/prompts?limit=50");
  $("prompt-list").replaceChildren(
    ...(prompts.length ? [] : [el("li", { class: "empty" }, "No prompts yet.")]),
    ...prompts.map((p) =>
      el("li", {},
        el("button", { type: "button", class: "secondary", onclick: () => showPast(p), "aria-label": `show prompt ${p.id}` }, `${p.id}: ${p.status}`),
        el("span", {}, p.text.slice(0, 60)),
        el("button", { type: "button", onclick: () => removeItem(`/prompts/${p.id}`, `prompt ${p.id}`), "aria-label": `delete prompt ${p.id}` }, "Delete")))
  );
}

async function showPast(prompt) {
  if (prompt.status !== "succeeded") {
    say($("gallery-status"), `Prompt ${prompt.id} is ${prompt.status}${prompt.error ? ": " + prompt.error.message : ""}.`, prompt.status === "failed");
    return;
  }
  await showImages(prompt, $("results"));
  say($("prompt-status"), `Showing prompt ${prompt.id}.`);
  $("results").scrollIntoView({ behavior: "smooth" });
}

async function removeItem(path, label) {
  if (!confirm(`Delete ${label}?`)) return;
  try {
    await api(path, { method: "DELETE" });
    say($("gallery-status"), `Deleted ${label}.`);
    await refreshAll();
  } catch (e) {
    say($("gallery-status"), e.describe(), true);
  }
}

async function refreshAll() {
  const gallery = await api("/gallery/tunes");
  const base = $("tune-base").value;
  $("tune-base").replaceChildren(
    ...gallery.filter((g) => g.engine_supported !== false).map((g) => el("option", { value: String(g.id) }, `${g.title}`))
  );
  if (base) $("tune-base").value = base;
  await refreshTunes();
  await refreshPrompts();
}

// ---- wiring ------------------------------------------------------------------

async function loadPresets() {
  const res = await fetch("/static/presets.json");
  state.presets = await res.json();
  $("presets").replaceChildren(
    ...state.presets.map((p) => el("button", { type: "button", "data-preset": p.id, onclick: () => applyPreset(p) }, p.title))
  );
}

function wireDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
  $("photos").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (e) => { e.preventDefault(); useKey($("api-key").value); });
  $("create-key").addEventListener("click", createKey);
  $("tune-form").addEventListener("submit", createTune);
  $("prompt-form").addEventListener("submit", createPrompt);
  $("refresh").addEventListener("click", () => refreshAll().catch((e) => say($("gallery-status"), e.describe(), true)));
  wireDrop();
  loadPresets();
  if (state.key) useKey(state.key);
  else say($("key-status"), "Paste an API key, or create one.");
});
