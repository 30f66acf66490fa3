// lookalike studio: a thin client of the public HTTP API (no private endpoints, no build step).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "lookalike.apiKey";
const PREVIOUS_KEYS = "lookalike.previousKeys";
const MAX_PHOTOS = 10;
const POLL_MS = 500;
const FINISHED = new Set(["succeeded", "failed"]);
const FLAGS = ["face_swap", "face_correct", "super_resolution", "film_grain"];
// Finishing steps that take a value, not a switch: a select of their values (Astria's spellings).
const CHOICE_STEPS = { color_grading: ["Film Velvia", "Film Portra", "Ektar"] };
const MAX_UPSCALE_SIDE = 1024;
// Event streams hold a connection each, and a browser opens at most 6 per server over HTTP/1.1:
// past this many, a prompt is followed by polling, so the page's own requests never wait behind streams.
const MAX_STREAMS = 2;

const state = {
  key: localStorage.getItem(KEY_STORAGE) || "",
  photos: [], // {file, bytes, url, status: checking|ok|bad, message, crop}
  presets: [],
  pressedPreset: null,
  tunes: [],
  prompts: [],
  packs: [], // GET /packs, each with .detail (GET /p/{id})
  models: null, // GET /models (null on a server without it: everything is offered, the server refuses)
  jobs: new Map(), // prompt id -> job (a followed prompt and its card)
};

// What a step or a scheduler is called on screen.
const STEP_WORDS = {
  face_swap: "face swap",
  face_correct: "face correct",
  super_resolution: "super resolution x4",
  color_grading: "colour grading",
  film_grain: "film grain",
  identity_score: "checking the likeness",
};
const FALLBACK_STEPS = [
  { name: "face_swap", title: "Face swap", description: "Puts the tune's face onto each realistic face in the picture.", installed: true },
  { name: "face_correct", title: "Face correct", description: "Restores faces: cleaner eyes, skin and teeth.", installed: true },
  { name: "super_resolution", title: "Super resolution x4", description: "Makes the picture four times wider and taller.", installed: true },
  { name: "color_grading", title: "Colour grading", description: "A film look: Film Velvia, Film Portra or Ektar.", installed: true },
  { name: "film_grain", title: "Film grain", description: "Fine grain sized to the picture, strongest in the mid-tones.", installed: true },
];
const FALLBACK_SCHEDULERS = [
  ["lcm", "LCM", 6, 1], ["dpm++2m_karras", "DPM++ 2M Karras", 25, 5], ["euler_a", "Euler a", 30, 5], ["euler", "Euler", 30, 5],
  ["dpm++2m", "DPM++ 2M", 25, 5], ["dpm++sde_karras", "DPM++ 2M SDE Karras", 25, 5], ["dpm++sde", "DPM++ 2M SDE", 25, 5],
  ["ddim", "DDIM", 30, 5], ["tcd", "TCD", 4, 1],
].map(([name, label, default_steps, default_cfg]) => ({ name, label, default_steps, default_cfg, installed: true }));
const SCHEDULER_NOTES = { lcm: "fast, few steps", tcd: "fastest, few steps", "dpm++2m_karras": "careful default" };
// Short words for the built-in sets (an operator's own sets show their first prompt instead).
const PACK_WORDS = {
  "professional-networking-headshots": "Business clothes, a friendly confident look, studio light: for LinkedIn and company pages.",
  "fitness-and-wellness-coach": "A bright athletic top, energy, morning light in a park: for a coach's site and social posts.",
  "social-media-influencer": "A stylish outfit, golden-hour city light, cinematic colour: for social media.",
  "history-professor": "Approachable, a warm sweater, soft window light, bookshelves: for a faculty page or a course.",
};
const FIELD_LABELS = {
  text: "Prompt", negative_prompt: "Negative prompt", num_images: "Images", steps: "Steps", cfg_scale: "CFG", seed: "Seed",
  scheduler: "Scheduler", aspect_ratio: "Aspect", w: "Width", h: "Height", title: "Title", name: "Class",
  base_tune_id: "Base model", face_swap: "Face swap", face_correct: "Face correct", super_resolution: "Super resolution",
  style: "Style", color_grading: "Colour grading", film_grain: "Film grain", ar: "Aspect",
};
// A refused photo, in words (its card says which photo, so these do not).
const PHOTO_WORDS = {
  no_face: "No face found. Use a photo where the face is clearly visible.",
  multiple_faces: "More than one face. Use a photo of this person alone.",
  face_too_small: "The face is too small. Use a closer photo.",
  face_too_blurry: "The face is too blurry. Use a sharper photo.",
  face_not_frontal: "The face is turned away. Use a photo facing the camera.",
  identity_mismatch: "This does not look like the same person as the other photos. Remove it, or use photos of one person only.",
  invalid_image: "This file is not a photo the studio can read. Use a JPEG, PNG or WebP photo.",
  image_too_large: "This photo is too large. Use a smaller one.",
};

// ---- talking to the API --------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    // Astria's error body: "error" is the message, our fields ("code", "hint", ...) beside it.
    const err = body && body.code ? body : { code: status === 0 ? "network" : `http_${status}`, message: `The server answered ${status}.` };
    super(err.message || err.error || "");
    Object.assign(this, { status, code: err.code, field: err.field, hint: err.hint, imageIndex: err.image_index, details: err.details || {} });
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
  } catch {
    throw new ApiError(0, null);
  }
  const type = res.headers.get("content-type") || "";
  if (!res.ok) {
    const parsed = type.includes("json") ? await res.json().catch(() => null) : null;
    throw new ApiError(res.status, parsed);
  }
  return type.includes("json") ? res.json() : res.blob();
}

function fieldName(field) {
  // "prompt[num_images]" -> "num_images"
  const m = /\[([^\]]+)\]$/.exec(field || "");
  return m ? m[1] : field;
}

// The pull commands an error names (for the operator; never the first thing a user reads).
function pullCommands(e) {
  const found = new Set();
  for (const m of String(e.hint || "").matchAll(/`(lookalike models pull [^`]+)`/g)) found.add(m[1]);
  for (const id of [].concat((e.details && e.details.missing) || [])) if (typeof id === "string" && !id.includes("/")) found.add(`lookalike models pull ${id}`);
  if (e.details && typeof e.details.model === "string") found.add(`lookalike models pull ${e.details.model}`);
  return [...found];
}

// An error in a user's words: {text, operator} (operator: pull commands for whoever runs the server).
function words(e) {
  const photo = e.imageIndex != null ? `Photo ${e.imageIndex + 1}: ` : "";
  switch (e.code) {
    case "unauthorized": return { text: "This key is not valid. Paste a working key, or create a new one." };
    case "network": return { text: "The studio cannot reach the server. Check that it is still running, then try again." };
    case "signup_closed": return { text: "This server does not hand out keys. Ask the person who runs it for one." };
    case "rate_limited": return { text: `Too many requests at once. Try again in ${Math.ceil(e.details.retry_after || 10)} seconds.` };
    case "tune_not_found": case "unknown_tune": case "tune_forbidden":
      return { text: "That tune no longer exists, or belongs to another key. Pick one of your tunes." };
    case "prompt_not_found": return { text: "That prompt no longer exists." };
    case "model_unavailable":
      return { text: "This server does not have a model this needs yet, so nothing was made. Ask the person who runs it to add it.", operator: pullCommands(e) };
    case "model_checksum_mismatch":
      return { text: "A model file on the server is damaged, so nothing was made. Ask the person who runs it to download it again.", operator: pullCommands(e) };
    case "base_model_not_supported": return { text: "This tune's base model cannot make pictures on this server yet. Make the tune on another base model." };
    case "internal_error": return { text: "Something went wrong on the server. Try again; if it keeps happening, tell the person who runs it." };
    case "request_too_large": return { text: "The photos together are too large. Use fewer or smaller photos." };
    case "too_many_photos": return { text: `A tune takes at most ${MAX_PHOTOS} photos.` };
    case "no_photos": return { text: "Add at least one photo." };
    case "malformed_faceid_token": return { text: "A face token in the prompt is not written right. It looks like <faceid:ID:1.0>." };
    case "unsupported_prompt_token": return { text: "The prompt has a token this server does not use: only <faceid:ID:1.0> tokens work." };
    case "too_many_faceid_tokens": return { text: "The prompt names too many tunes: at most 8." };
    case "faceid_weight_out_of_range": return { text: "The weight in a <faceid:ID:W> token must be from 0 to 2." };
    default: break;
  }
  if (PHOTO_WORDS[e.code]) return { text: photo + PHOTO_WORDS[e.code] };
  const name = fieldName(e.field);
  let text = e.message || "The server refused this.";
  if (name && FIELD_LABELS[name]) text = text.startsWith(name) ? FIELD_LABELS[name] + text.slice(name.length) : `${FIELD_LABELS[name]}: ${text}`;
  // Photo numbers from the server count from 0; on screen they count from 1.
  if (e.imageIndex != null) text = text.replace(new RegExp(`\\bphoto ${e.imageIndex}\\b`, "i"), `photo ${e.imageIndex + 1}`);
  return { text: text.replace(/`/g, "") };
}

// ---- small helpers ---------------------------------------------------------------

function say(node, text, isError = false) {
  node.textContent = text;
  node.classList.toggle("error", isError);
}

function showOperator(node, commands) {
  node.replaceChildren();
  node.hidden = !(commands && commands.length);
  if (node.hidden) return;
  node.append("For the person who runs the server: ");
  commands.forEach((c, i) => node.append(i ? " and " : "", el("code", {}, c)));
}

function sayError(node, e, operatorNode) {
  const w = words(e);
  say(node, w.text, true);
  if (operatorNode) showOperator(operatorNode, w.operator);
  return w;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child != null && child !== false) node.append(child);
  return node;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "");
const plural = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;
const seconds = (s) => `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
const ordinal = (n) => n + (n % 10 === 1 && n % 100 !== 11 ? "st" : n % 10 === 2 && n % 100 !== 12 ? "nd" : n % 10 === 3 && n % 100 !== 13 ? "rd" : "th");
const hasToken = (text) => /(<|&lt;)faceid:/i.test(text);
const mark = (name) => performance.mark(`lookalike:${name}`);

function confirmDialog(text, ok, cancel) {
  // A native dialog: the page's own buttons, focus kept inside, Escape cancels.
  return new Promise((resolve) => {
    const dialog = $("key-dialog");
    $("key-dialog-h").textContent = ok.title;
    $("key-dialog-text").textContent = text;
    $("key-replace").textContent = ok.label;
    $("key-keep").textContent = cancel;
    const done = (answer) => {
      dialog.removeEventListener("cancel", onCancel);
      $("key-replace").onclick = $("key-keep").onclick = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onCancel = (event) => { event.preventDefault(); done(false); };
    dialog.addEventListener("cancel", onCancel);
    $("key-replace").onclick = () => done(true);
    $("key-keep").onclick = () => done(false);
    dialog.showModal();
    $("key-keep").focus();
  });
}

// ---- API key -----------------------------------------------------------------------

function markKey(invalid) {
  const input = $("api-key");
  if (invalid) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function keyRefused(text) {
  say($("key-status"), text, true);
  markKey(true);
  $("api-key").focus();
}

async function useKey(key, { initial = false } = {}) {
  key = key.trim();
  if (!key) {
    keyRefused("Paste a key, or press \"Create a key\".");
    return false;
  }
  const previous = state.key;
  state.key = key;
  try {
    await refreshAll();
  } catch (e) {
    if (e.status === 401) {
      // A refused key is never stored: the one that worked stays (and nothing is shown with the bad one).
      state.key = initial ? "" : previous;
      if (initial) clearAccountView();
      keyRefused(words(e).text);
    } else {
      sayError($("key-status"), e);
    }
    return false;
  }
  // Another account: the cards of the one before go (their prompts are not this key's).
  const mine = new Set(state.prompts.map((p) => p.id));
  for (const job of [...state.jobs.values()]) if (!mine.has(job.id)) forget(job);
  localStorage.setItem(KEY_STORAGE, key);
  $("api-key").value = key;
  markKey(false);
  for (const id of ["tune-status", "prompt-status", "gallery-status"]) {
    if ($(id).classList.contains("error")) say($(id), "");
  }
  showOperator($("prompt-operator"), null);
  say($("key-status"), `Key accepted: ${plural(state.tunes.length, "tune")}, ${plural(state.prompts.length, "prompt")}.`);
  return true;
}

function clearAccountView() {
  state.tunes = [];
  state.prompts = [];
  renderTunes();
  renderPrompts();
}

async function createKey() {
  say($("key-status"), "");
  if (state.key) {
    const shown = `${state.key.slice(0, 7)}...`;
    const yes = await confirmDialog(
      `This browser already uses a key (${shown}), whose account has ${plural(state.tunes.length, "tune")} and ` +
        `${plural(state.prompts.length, "prompt")}. A new key makes a new, empty account: those tunes and pictures stay ` +
        "with the current key and are not shown under the new one. The current key is kept in this browser, so you can switch back.",
      { title: "Make a new account?", label: "Make a new account" },
      "Keep my key"
    );
    if (!yes) {
      say($("key-status"), "Kept your key. Nothing changed.");
      $("create-key").focus();
      return;
    }
  }
  let made;
  try {
    made = await api("/keys", { method: "POST", json: { name: "studio" } });
  } catch (e) {
    sayError($("key-status"), e);
    return;
  }
  if (state.key) {
    const previous = JSON.parse(localStorage.getItem(PREVIOUS_KEYS) || "[]").filter((k) => k !== state.key);
    localStorage.setItem(PREVIOUS_KEYS, JSON.stringify([state.key, ...previous].slice(0, 5)));
  }
  if (await useKey(made.key)) {
    $("new-key").hidden = false;
    $("new-key-value").value = made.key;
    say($("copy-status"), "");
    say($("key-status"), "A new key was created and saved in this browser, with a new, empty account.");
    $("copy-key").focus();
  }
}

async function copyKey() {
  const input = $("new-key-value");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
  say($("copy-status"), "Copied.");
}

// ---- models: what this server can run ------------------------------------------

function baseModels() {
  return state.models ? state.models.base_models : [];
}

function baseModel(galleryId) {
  return baseModels().find((m) => m.id === Number(galleryId));
}

const runnable = (m) => !m || (m.installed !== false && m.engine_supported !== false);

async function loadModels() {
  try {
    state.models = await api("/models");
  } catch (e) {
    if (e.status !== 404) throw e;
    // A server without GET /models: the gallery alone (installed when it says so), steps assumed there.
    const gallery = await api("/gallery/tunes");
    state.models = {
      default_base_tune_id: (gallery.find(runnable) || gallery[0] || {}).id,
      base_models: gallery.map((g) => ({ ...g, slug: g.name, missing: [], pull_commands: [], schedulers: FALLBACK_SCHEDULERS })),
      finishing_steps: FALLBACK_STEPS,
    };
  }
  renderBaseModels();
  renderFinishing();
  renderSchedulers();
}

function renderBaseModels() {
  const select = $("tune-base");
  const current = select.value;
  select.replaceChildren(
    ...baseModels().map((m) =>
      el("option", { value: String(m.id), disabled: !runnable(m) },
        m.title + (m.engine_supported === false ? " (cannot make pictures yet)" : m.installed === false ? " (not installed)" : "")))
  );
  const keep = baseModel(current);
  const fallback = state.models.default_base_tune_id ?? (baseModels().find(runnable) || {}).id;
  select.value = String(keep && runnable(keep) ? keep.id : fallback);
  describeBaseModel();
}

function describeBaseModel() {
  const m = baseModel($("tune-base").value);
  const line = $("model-line");
  line.replaceChildren();
  if (!m) return;
  if (m.slug === "tiny") {
    line.append("Tiny is a stand-in with random weights: it makes coloured noise in a second or two, to try the studio. It does not make real portraits.");
  } else {
    line.append(`${m.title}: ${m.description}`);
  }
  const missing = baseModels().filter((b) => !b.installed && b.engine_supported !== false);
  if (missing.length) {
    line.append(el("br"), `Not installed on this server: ${missing.map((b) => b.title).join(", ")}. `);
    const op = el("span", { class: "operator" });
    showOperator(op, [...new Set(missing.flatMap((b) => b.pull_commands))]);
    line.append(op);
  }
  updateTuneWhy();
}

function renderFinishing() {
  const steps = (state.models && state.models.finishing_steps) || FALLBACK_STEPS;
  const checked = new Set(FLAGS.filter((f) => $(f.replaceAll("_", "-")) && $(f.replaceAll("_", "-")).checked));
  const chosen = Object.fromEntries(Object.keys(CHOICE_STEPS).map((c) => [c, $(c.replaceAll("_", "-"))?.value || ""]));
  $("finishing-list").replaceChildren(
    ...steps.map((s) => {
      const id = s.name.replaceAll("_", "-");
      const why = s.installed ? null : el("span", { class: "hint missing" }, " Not installed on this server.");
      const op = el("span", { class: "operator" });
      if (!s.installed) showOperator(op, s.pull_command ? [s.pull_command] : []);
      if (CHOICE_STEPS[s.name]) {
        const select = el("select", { id, "data-choice": s.name, disabled: !s.installed, "aria-describedby": `${id}-help` },
          el("option", { value: "" }, "none"), ...CHOICE_STEPS[s.name].map((v) => el("option", { value: v, selected: v === chosen[s.name] }, v)));
        return el("label", { class: `check choice${s.installed ? "" : " unavailable"}` }, select,
          el("span", {}, el("strong", {}, s.title), el("span", { id: `${id}-help`, class: "hint" }, ` ${s.description}`), why, s.installed ? null : op));
      }
      return el("label", { class: `check${s.installed ? "" : " unavailable"}` },
        el("input", { id, type: "checkbox", "data-flag": s.name, disabled: !s.installed, checked: s.installed && checked.has(s.name) }),
        el("span", {}, el("strong", {}, s.title), el("span", { class: "hint" }, ` ${s.description}`), why, s.installed ? null : op));
    })
  );
}

function stepInfo(name) {
  return ((state.models && state.models.finishing_steps) || FALLBACK_STEPS).find((s) => s.name === name) || { installed: true };
}

function schedulersFor(tune) {
  const m = tune && baseModel(tune.base_tune_id);
  return (m && m.schedulers) || FALLBACK_SCHEDULERS;
}

function renderSchedulers({ keep = true } = {}) {
  const select = $("scheduler");
  const current = select.value;
  const list = schedulersFor(selectedTune());
  select.replaceChildren(
    ...list.map((s) =>
      el("option", { value: s.name, disabled: !s.installed },
        s.label + (SCHEDULER_NOTES[s.name] ? ` (${SCHEDULER_NOTES[s.name]})` : "") + (s.installed ? "" : " (not installed)")))
  );
  const usable = (name) => list.some((s) => s.name === name && s.installed);
  // Fast LCM where it runs (the tiny model, or with its LoRA pulled), else the server's careful default.
  const fallback = ["lcm", "dpm++2m_karras"].find(usable) || (list.find((s) => s.installed) || list[0]).name;
  const choice = keep && usable(current) ? current : fallback;
  select.value = choice;
  if (choice !== current) schedulerDefaults();
}

function schedulerDefaults() {
  const s = schedulersFor(selectedTune()).find((x) => x.name === $("scheduler").value);
  if (!s) return;
  $("steps").value = String(s.default_steps);
  $("cfg").value = String(s.default_cfg);
}

// ---- photos and their face checks --------------------------------------------

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function addFiles(files) {
  if ($("tune-status").classList.contains("error")) say($("tune-status"), "");
  const notes = [];
  for (const file of Array.from(files)) {
    if (state.photos.length >= MAX_PHOTOS) {
      notes.push(`A tune takes at most ${MAX_PHOTOS} photos; ${file.name} was left out.`);
      continue;
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const twin = state.photos.findIndex((p) => sameBytes(p.bytes, bytes));
    if (twin >= 0) {
      notes.push(`${file.name} is the same photo as photo ${twin + 1}, so it was not added again.`);
      continue;
    }
    const photo = { file, bytes, url: URL.createObjectURL(file), status: "checking", message: "Checking the face..." };
    state.photos.push(photo);
    checkPhoto(photo);
  }
  renderPhotos();
  if (notes.length) say($("tune-status"), notes.join(" "), true);
}

async function checkPhoto(photo) {
  const form = new FormData();
  form.append("image", photo.file);
  form.append("index", String(Math.max(state.photos.indexOf(photo), 0)));
  try {
    const result = await api("/faces/check", { method: "POST", form });
    photo.status = result.ok ? "ok" : "bad";
    photo.crop = result.crop;
    photo.message = result.ok ? "Face found." : PHOTO_WORDS[result.error.code] || words({ ...result.error, imageIndex: null }).text;
  } catch (e) {
    photo.status = "bad";
    photo.message = PHOTO_WORDS[e.code] || words(e).text;
  }
  renderPhotos();
}

function renderPhotos() {
  $("photo-list").replaceChildren(
    ...state.photos.map((photo, i) =>
      el("li", { class: `photo ${photo.status}`, "data-index": String(i) },
        el("div", { class: "pair" },
          el("img", { src: photo.url, alt: `photo ${i + 1}` }),
          photo.crop ? el("img", { src: photo.crop, alt: `face found in photo ${i + 1}` }) : el("span")),
        el("p", { class: `verdict ${photo.status}` }, el("strong", {}, `Photo ${i + 1}: `), photo.message),
        el("button", { type: "button", class: "secondary", onclick: () => removePhoto(i), "aria-label": `Remove photo ${i + 1}` }, "Remove"))
    )
  );
  updateTuneWhy();
}

function removePhoto(i) {
  URL.revokeObjectURL(state.photos[i].url);
  state.photos.splice(i, 1);
  if ($("tune-status").classList.contains("error")) say($("tune-status"), "");
  renderPhotos();
}

function updateTuneWhy() {
  const needs = [];
  if (!$("tune-title").value.trim()) needs.push("add a title");
  if (!$("tune-class").value) needs.push("choose a class");
  if (!runnable(baseModel($("tune-base").value))) needs.push("choose an installed base model");
  if (!state.photos.length) needs.push("add at least one photo");
  if (state.photos.some((p) => p.status === "checking")) needs.push("wait for the face checks");
  const bad = state.photos.map((p, i) => (p.status === "bad" ? i + 1 : 0)).filter(Boolean);
  if (bad.length) needs.push(`remove refused photo ${bad.join(" and ")}`);
  $("tune-submit").disabled = needs.length > 0;
  const list = needs.length > 1 ? `${needs.slice(0, -1).join(", ")} and ${needs[needs.length - 1]}` : needs[0];
  $("tune-why").textContent = needs.length ? `To create the tune, ${list}.` : "";
}

async function createTune(event) {
  event.preventDefault();
  updateTuneWhy();
  if ($("tune-submit").disabled) return;
  const form = new FormData();
  form.append("tune[title]", $("tune-title").value.trim());
  form.append("tune[name]", $("tune-class").value);
  form.append("tune[base_tune_id]", $("tune-base").value);
  form.append("tune[model_type]", "faceid");
  for (const photo of state.photos) form.append("tune[images][]", photo.file);
  say($("tune-status"), "Creating the tune...");
  $("tune-submit").disabled = true;
  try {
    const tune = await api("/tunes", { method: "POST", form });
    state.photos.forEach((p) => URL.revokeObjectURL(p.url));
    state.photos = [];
    $("tune-title").value = "";
    $("tune-class").value = "";
    renderPhotos();
    await refreshTunes();
    $("prompt-tune").value = String(tune.id);
    tuneChanged();
    say($("tune-status"), `Tune "${tune.title}" is ready (tune ${tune.id}). Pick a preset or a set below, or write a prompt.`);
  } catch (e) {
    if (e.imageIndex != null && state.photos[e.imageIndex]) {
      Object.assign(state.photos[e.imageIndex], { status: "bad", message: PHOTO_WORDS[e.code] || words({ ...e, imageIndex: null }).text });
      renderPhotos();
    }
    sayError($("tune-status"), e);
    updateTuneWhy();
  }
}

// ---- prompts -------------------------------------------------------------------

function selectedTune() {
  return state.tunes.find((t) => String(t.id) === $("prompt-tune").value);
}

function tuneChanged() {
  const tune = selectedTune();
  $("prompt-tune-faces").replaceChildren(...(tune ? tune.orig_images.slice(0, 3).map((src) => el("img", { src, alt: "" })) : []));
  renderSchedulers();
  renderPacks();
}

function pressPreset(id) {
  state.pressedPreset = id;
  for (const b of $("presets").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.preset === id));
}

function applyPreset(preset) {
  const tune = selectedTune();
  if (!tune) {
    say($("prompt-status"), "Make or pick a tune first.", true);
    return;
  }
  $("prompt-text").value = preset.text.replaceAll("{ID}", tune.id).replaceAll("{CLASS}", tune.name);
  $("prompt-negative").value = preset.negative_prompt;
  pressPreset(preset.id);
  state.presetText = $("prompt-text").value;
  say($("prompt-status"), `Preset "${preset.title}" for tune "${tune.title}".`);
  $("prompt-text").focus();
}

function promptFields(text) {
  const fields = {
    text,
    negative_prompt: $("prompt-negative").value,
    num_images: Number($("num-images").value),
    steps: Number($("steps").value),
    cfg_scale: Number($("cfg").value),
    scheduler: $("scheduler").value,
  };
  if ($("seed").value !== "") fields.seed = Number($("seed").value);
  for (const box of $("finishing-list").querySelectorAll("input[data-flag]")) if (box.checked) fields[box.dataset.flag] = true;
  for (const select of $("finishing-list").querySelectorAll("select[data-choice]")) if (select.value) fields[select.dataset.choice] = select.value;
  if ($("style").value) fields.style = $("style").value;
  if ($("aspect").value) fields.aspect_ratio = $("aspect").value;
  return fields;
}

// What a prompt on this tune would need that the server lacks, in words; null when all is there.
function missingFor(tune, fields) {
  const m = baseModel(tune.base_tune_id);
  if (m && !runnable(m)) {
    return {
      text: `Pictures of "${tune.title}" need the base model ${m.title}, which this server ${m.engine_supported === false ? "cannot run yet" : "does not have yet"}, so nothing was made.`,
      operator: m.pull_commands,
    };
  }
  const s = schedulersFor(tune).find((x) => x.name === fields.scheduler);
  if (s && !s.installed) {
    return { text: `The ${s.label} scheduler is not installed for this base model, so nothing was made. Choose another scheduler.`, operator: [s.pull_command] };
  }
  for (const flag of FLAGS) {
    const step = stepInfo(flag);
    if (fields[flag] && !step.installed) {
      return { text: `${step.title} is not installed on this server, so nothing was made. Leave it off, or ask the person who runs the server to add it.`, operator: step.pull_command ? [step.pull_command] : [] };
    }
  }
  return null;
}

function clearPromptError() {
  if ($("prompt-status").classList.contains("error")) say($("prompt-status"), "");
  showOperator($("prompt-operator"), null);
}

async function createPrompt(event) {
  event.preventDefault();
  mark("generate");
  clearPromptError();
  const tune = selectedTune();
  if (!tune) {
    say($("prompt-status"), "Make or pick a tune first.", true);
    return;
  }
  let text = $("prompt-text").value.trim();
  if (!text) {
    say($("prompt-status"), "Write a prompt, or press a preset.", true);
    $("prompt-text").focus();
    return;
  }
  let note = "";
  if (!hasToken(text)) {
    // Never ignore the chosen tune: a prompt without a face token gets this tune's, and says so.
    text = `<faceid:${tune.id}:1.0> ${text}`;
    $("prompt-text").value = text;
    note = ` The prompt had no face token, so the face of "${tune.title}" was added: <faceid:${tune.id}:1.0>.`;
  }
  const fields = promptFields(text);
  const missing = missingFor(tune, fields);
  if (missing) {
    say($("prompt-status"), missing.text, true);
    showOperator($("prompt-operator"), missing.operator);
    return;
  }
  const prompt = await submitPrompt(tune.id, fields);
  if (prompt) say($("prompt-status"), `Prompt ${prompt.id} is queued.${note}`);
}

async function submitPrompt(tuneId, fields, { label = null } = {}) {
  try {
    const prompt = await api(`/tunes/${tuneId}/prompts`, { method: "POST", json: { prompt: fields } });
    mark(`queued:${prompt.id}`);
    follow(prompt, { label });
    schedule(refreshPrompts);
    return prompt;
  } catch (e) {
    sayError($("prompt-status"), e, $("prompt-operator"));
    return null;
  }
}

// ---- following prompts: progress from events or polling -------------------------

function follow(prompt, { label = null } = {}) {
  let job = state.jobs.get(prompt.id);
  if (!job) {
    job = makeJob(prompt, label);
    state.jobs.set(prompt.id, job);
    $("results").prepend(job.card);
  }
  update(job, prompt);
  if (FINISHED.has(prompt.status)) {
    finish(job, prompt);
    return job;
  }
  job.timer = setInterval(() => renderProgress(job), 250);
  const streams = [...state.jobs.values()].filter((j) => j.source).length;
  if (prompt.events_url && window.EventSource && streams < MAX_STREAMS) listen(job, prompt.events_url);
  else poll(job);
  return job;
}

function listen(job, url) {
  const source = new EventSource(url);
  job.source = source;
  source.addEventListener("progress", (event) => {
    const progress = JSON.parse(event.data);
    const status = progress.phase === "queued" ? "queued" : "processing";
    update(job, { ...job.prompt, status, progress }, true);
  });
  source.addEventListener("done", (event) => {
    source.close();
    finish(job, JSON.parse(event.data));
  });
  source.onerror = () => {
    // A dropped stream, or one this server does not offer: polling takes over.
    source.close();
    if (!job.done && job.source === source) {
      job.source = null;
      poll(job);
    }
  };
}

async function poll(job) {
  let wait = POLL_MS;
  while (!job.done) {
    await sleep(wait);
    if (job.done) return;
    try {
      const prompt = await api(`/prompts/${job.id}`);
      wait = POLL_MS;
      if (FINISHED.has(prompt.status)) finish(job, prompt);
      else update(job, prompt, true);
    } catch (e) {
      if (e.status === 404) {
        forget(job, "This prompt was deleted.");
        return;
      }
      wait = Math.min(wait * 2, 5000);
      job.line.textContent = `${words(e).text} Trying again...`;
    }
  }
}

function update(job, prompt, fromServer = false) {
  job.prompt = prompt;
  job.receivedAt = performance.now();
  if (fromServer && !job.firstUpdate) {
    job.firstUpdate = job.receivedAt;
    mark(`first-update:${job.id}`);
  }
  if (fromServer) {
    // Only the latest is kept: what the page last heard before the pictures came.
    performance.clearMarks(`lookalike:last-update:${job.id}`);
    mark(`last-update:${job.id}`);
  }
  const p = prompt.progress;
  if (p && p.phase === "denoising" && p.step && !job.firstStep) {
    job.firstStep = job.receivedAt;
    mark(`first-step:${job.id}`);
  }
  if (p && p.phase === "denoising" && p.steps && p.step >= p.steps && !job.lastStep) {
    job.lastStep = job.receivedAt;
    mark(`last-step:${job.id}`);
  }
  renderProgress(job);
}

function elapsed(job) {
  const prompt = job.prompt;
  const p = prompt.progress;
  if (p && p.elapsed_s != null) return p.elapsed_s + (performance.now() - job.receivedAt) / 1000;
  if (prompt.started_training_at) {
    const s = (Date.now() - Date.parse(prompt.started_training_at)) / 1000;
    if (s >= 0) return s;
  }
  return (performance.now() - (job.followedAt || performance.now())) / 1000;
}

// {text, pct}: pct null is "working, amount unknown".
function progressView(job) {
  const prompt = job.prompt;
  const p = prompt.progress;
  if (prompt.status === "queued") {
    const pos = p && p.queue_position;
    return { text: pos ? (pos === 1 ? "Waiting: next in line" : `Waiting: ${ordinal(pos)} in line`) : "Waiting in line", pct: 0 };
  }
  const images = (p && p.images) || prompt.num_images || 1;
  const time = seconds(elapsed(job));
  if (!p) return { text: `Making ${plural(images, "picture")} · ${time}`, pct: null };
  if (p.phase === "denoising") {
    if (!p.step || !p.steps) return { text: `Starting: loading the model · ${time}`, pct: 3 };
    const which = p.image ? `picture ${p.image} of ${images}` : plural(images, "picture");
    return { text: `Step ${p.step} of ${p.steps} · ${which} · ${time}`, pct: 5 + (80 * p.step) / p.steps };
  }
  if (p.phase === "finishing") {
    const which = p.image ? `, picture ${p.image} of ${images}` : "";
    const share = p.image ? (p.image - 1) / images : 0;
    return { text: `Finishing: ${STEP_WORDS[p.finishing_step] || p.finishing_step || "last touches"}${which} · ${time}`, pct: 86 + 9 * share };
  }
  return { text: `Saving the pictures · ${time}`, pct: 97 };
}

function renderProgress(job) {
  if (job.done) return;
  const view = progressView(job);
  job.line.textContent = view.text;
  setBar(job, view.pct);
}

function setBar(job, pct) {
  job.bar.classList.toggle("busy", pct == null);
  if (pct == null) {
    job.bar.removeAttribute("aria-valuenow");
    job.fill.style.width = "";
  } else {
    job.bar.setAttribute("aria-valuenow", String(Math.round(pct)));
    job.fill.style.width = `${pct}%`;
  }
}

function makeJob(prompt, label) {
  const id = prompt.id;
  const tune = state.tunes.find((t) => t.id === prompt.tune_id);
  const headingId = `job-h-${id}`;
  const job = { id, prompt, done: false, followedAt: performance.now() };
  job.line = el("p", { class: "job-line" });
  job.fill = el("div", { class: "fill" });
  job.bar = el("div", { class: "progress", role: "progressbar", "aria-labelledby": headingId, "aria-valuemin": "0", "aria-valuemax": "100" }, job.fill);
  job.error = el("p", { class: "job-error error" });
  job.operator = el("p", { class: "operator", hidden: true });
  job.figures = el("div", { class: "figures" });
  job.remove = el("button", { type: "button", class: "secondary small", onclick: () => deletePrompt(job.prompt) }, `Delete prompt ${id}`);
  job.card = el("article", { class: "job", "data-prompt-id": String(id), "aria-labelledby": headingId },
    el("div", { class: "job-head" },
      el("h4", { id: headingId }, `Prompt ${id}${tune ? ` · ${tune.title}` : ""}`),
      el("time", { datetime: prompt.created_at }, when(prompt.created_at)),
      job.remove),
    label ? el("p", { class: "job-label" }, label) : null,
    el("details", { class: "prompt-text" }, el("summary", { title: prompt.text }, prompt.text)),
    job.bar, job.line, job.error, job.operator, job.figures);
  return job;
}

function forget(job, text) {
  job.done = true;
  clearInterval(job.timer);
  if (job.source) job.source.close();
  job.source = null;
  job.card.remove();
  state.jobs.delete(job.id);
  if (text) say($("prompt-status"), text);
}

async function finish(job, prompt) {
  if (job.finished) return;
  job.done = job.finished = true;
  clearInterval(job.timer);
  if (job.source) job.source.close();
  job.source = null;
  job.prompt = prompt;
  mark(`done:${job.id}`);
  const took = prompt.trained_at && prompt.started_training_at ? (Date.parse(prompt.trained_at) - Date.parse(prompt.started_training_at)) / 1000 : null;
  const n = prompt.images.length;
  // DELETE /prompts/{id} removes the whole prompt: the button says so.
  job.remove.textContent = `Delete prompt ${prompt.id} (${plural(n || prompt.num_images || 1, "picture")})`;
  if (prompt.status === "failed") {
    setBar(job, 100);
    job.bar.classList.add("failed");
    job.line.textContent = "Failed.";
    const err = prompt.error ? new ApiError(0, prompt.error) : new ApiError(0, { code: "failed", message: prompt.user_error || "It failed." });
    const w = words(err);
    job.error.textContent = w.text;
    showOperator(job.operator, w.operator);
    say($("prompt-status"), `Prompt ${prompt.id} failed: ${w.text}`, true);
  } else {
    setBar(job, 100);
    job.line.textContent = `Done${took != null && took >= 0 ? ` in ${seconds(took)}` : ""}: ${plural(n, "picture")}.`;
    await showImages(job, prompt);
    mark(`shown:${job.id}`);
    job.shownAt = performance.now();
    say($("prompt-status"), `Prompt ${prompt.id} is done: ${plural(n, "picture")}.`);
  }
  job.card.dataset.status = prompt.status;
  schedule(refreshPrompts);
}

// ---- pictures and what can be done with each -----------------------------------

async function showImages(job, prompt) {
  const details = prompt.image_details && prompt.image_details.length ? prompt.image_details : prompt.images.map((url) => ({ url }));
  const r = prompt.resolved || {};
  const figures = details.map((d, i) => figure(prompt, d, i + 1, r));
  const note = el("p", { class: "hint refine-note" },
    "Upscale and Face correct make a new prompt: the same picture again from its seed and settings, then that step.");
  job.figures.replaceChildren(...figures, figures.length ? note : "");
  // Shown means decoded: wait for every picture (a broken one counts as done too).
  await Promise.all([...job.figures.querySelectorAll("img")].map((img) => (img.complete ? null : new Promise((ok) => { img.onload = img.onerror = ok; }))));
}

function figure(prompt, d, n, r) {
  const name = `picture ${n} of prompt ${prompt.id}`;
  const score = d.identity_score == null ? "likeness: no face found" : `likeness ${Number(d.identity_score).toFixed(3)}`;
  const width = d.width || r.w;
  const height = d.height || r.h;
  const settings = [
    ["Seed", d.seed ?? r.seed], ["Size", width && height ? `${width} × ${height}` : null], ["Steps", r.steps], ["CFG", r.cfg_scale],
    ["Scheduler", r.scheduler], ["Style", r.style], ["Base model", prompt.base_model], ["Finishing", d.postprocess],
  ].filter(([, v]) => v != null && v !== "");
  const actions = [el("button", { type: "button", class: "secondary small", onclick: () => useSettings(prompt, d, n), "aria-label": `Use these settings of ${name}` }, "Use these settings")];
  for (const [flag, title] of [["super_resolution", "Upscale x4"], ["face_correct", "Face correct"]]) {
    if (r[flag]) continue; // already done to this picture
    const step = stepInfo(flag);
    const tooBig = flag === "super_resolution" && Math.max(r.w || 0, r.h || 0) > MAX_UPSCALE_SIDE;
    const why = !step.installed ? "not installed on this server" : tooBig ? `larger than ${MAX_UPSCALE_SIDE} px` : null;
    actions.push(el("button", {
      type: "button", class: "secondary small", disabled: Boolean(why), title: why ? `${title}: ${why}` : null,
      "aria-label": `${title} ${name}${why ? ` (${why})` : ""}`, onclick: () => refine(prompt, d, n, flag, title),
    }, title));
  }
  actions.push(el("a", { class: "button secondary small", href: d.url, download: `lookalike-prompt-${prompt.id}-${n}.png`, "aria-label": `Download ${name} (PNG with its settings)` }, "Download"));
  return el("figure", { class: "shot" },
    el("button", { type: "button", class: "open", onclick: () => openViewer(d.url, `Picture ${n} of prompt ${prompt.id}`) },
      el("img", { src: d.url, alt: `Open ${name} full size`, width, height })),
    el("figcaption", {},
      el("span", {}, `Picture ${n}${d.seed != null ? ` · seed ${d.seed}` : ""}`),
      el("span", { class: "score", title: "How alike the face in the picture is to the tune's photos (cosine similarity: 1 is identical)." }, score)),
    d.postprocess ? el("p", { class: "finishing-note" }, d.postprocess) : null,
    el("details", { class: "settings-of" }, el("summary", {}, "Seed and settings"),
      el("dl", {}, ...settings.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]))),
    el("div", { class: "shot-actions" }, ...actions));
}

function openViewer(url, title) {
  const img = $("viewer-img");
  $("viewer-h").textContent = title;
  img.classList.remove("small");
  // Full size is the picture's own size; one under 256 px (the tiny model's) is enlarged, pixels kept sharp.
  img.onload = () => img.classList.toggle("small", img.naturalWidth < 256 && img.naturalHeight < 256);
  img.src = url;
  img.alt = title;
  $("viewer-open").href = url;
  $("viewer").showModal();
  $("viewer-close").focus();
}

function useSettings(prompt, d, n) {
  const r = prompt.resolved || {};
  if (state.tunes.some((t) => t.id === prompt.tune_id)) {
    $("prompt-tune").value = String(prompt.tune_id);
    tuneChanged();
  }
  $("prompt-text").value = prompt.text;
  $("prompt-negative").value = prompt.negative_prompt || "";
  $("num-images").value = "1";
  if (r.scheduler) $("scheduler").value = r.scheduler;
  if (r.steps != null) $("steps").value = String(r.steps);
  if (r.cfg_scale != null) $("cfg").value = String(r.cfg_scale);
  $("seed").value = String(d.seed ?? r.seed ?? "");
  const aspect = prompt.aspect_ratio || "";
  if (aspect && ![...$("aspect").options].some((o) => o.value === aspect)) $("aspect").append(el("option", { value: aspect }, aspect));
  $("aspect").value = aspect;
  for (const box of $("finishing-list").querySelectorAll("input[data-flag]")) box.checked = !box.disabled && Boolean(r[box.dataset.flag]);
  for (const select of $("finishing-list").querySelectorAll("select[data-choice]")) select.value = (!select.disabled && r[select.dataset.choice]) || "";
  $("style").value = r.style || "";
  pressPreset(null);
  clearPromptError();
  say($("prompt-status"), `The settings of picture ${n} of prompt ${prompt.id} are in the form, with its seed ${$("seed").value}: Generate makes the same picture again. Clear the seed for new ones.`);
  $("prompt-text").focus();
  $("prompt-form").scrollIntoView({ block: "start" });
}

async function refine(prompt, d, n, flag, title) {
  const r = prompt.resolved || {};
  const fields = {
    text: prompt.text, negative_prompt: prompt.negative_prompt || "", num_images: 1, seed: d.seed ?? r.seed,
    steps: r.steps, cfg_scale: r.cfg_scale, scheduler: r.scheduler, w: r.w, h: r.h,
  };
  for (const f of FLAGS) if (r[f] || f === flag) fields[f] = true;
  // The same picture again needs the same style; its look goes with it.
  for (const f of ["style", ...Object.keys(CHOICE_STEPS)]) if (r[f]) fields[f] = r[f];
  clearPromptError();
  const label = `${title} of picture ${n} of prompt ${prompt.id} (same seed and settings)`;
  const made = await submitPrompt(prompt.tune_id, fields, { label });
  if (made) {
    say($("prompt-status"), `Prompt ${made.id} is queued: it makes picture ${n} of prompt ${prompt.id} again from its seed, then ${STEP_WORDS[flag]}.`);
  }
}

async function deletePrompt(prompt) {
  const n = prompt.images.length || prompt.num_images || 1;
  if (!confirm(`Delete prompt ${prompt.id} and all ${plural(n, "picture")} it made? This cannot be undone.`)) return;
  try {
    await api(`/prompts/${prompt.id}`, { method: "DELETE" });
  } catch (e) {
    if (e.status !== 404) {
      sayError($("gallery-status"), e);
      return;
    }
  }
  const job = state.jobs.get(prompt.id);
  if (job) forget(job);
  say($("gallery-status"), `Deleted prompt ${prompt.id} and its ${plural(n, "picture")}.`);
  await refreshPrompts();
}

// ---- packs: ready-made sets ------------------------------------------------------

async function loadPacks() {
  let packs;
  try {
    packs = await api("/packs");
  } catch (e) {
    if (e.status === 404) packs = []; // a server without packs
    else throw e;
  }
  state.packs = await Promise.all(packs.map(async (p) => ({ ...p, detail: await api(`/p/${p.id}`).catch(() => null) })));
  renderPacks();
}

function packPlan(pack, tune) {
  const cls = tune && (tune.name || "").toLowerCase();
  const prompts = (pack.detail && pack.detail.prompts && pack.detail.prompts[cls]) || [];
  return { cls, prompts, images: prompts.reduce((sum, p) => sum + (p.num_images || 1), 0) };
}

function renderPacks() {
  const tune = selectedTune();
  $("packs-box").hidden = !state.packs.length;
  $("packs").replaceChildren(
    ...state.packs.map((pack) => {
      const plan = packPlan(pack, tune);
      const fits = tune && pack.classes.includes(plan.cls);
      const first = plan.prompts[0] || Object.values((pack.detail && pack.detail.prompts) || {})[0]?.[0];
      const about = PACK_WORDS[pack.slug] || (first ? first.text.replace(/<faceid:[^>]*>\s*/g, "").slice(0, 140) : "");
      const why = !tune ? "Make or pick a tune first." : fits ? null : `This set has prompts for ${pack.classes.join(", ")}; "${tune.title}" is a ${tune.name}.`;
      return el("li", { class: "pack" },
        el("strong", {}, pack.title),
        el("p", { class: "hint" }, about, fits ? ` ${plural(plan.prompts.length, "prompt")}, ${plural(plan.images, "picture")}.` : ""),
        el("button", { type: "button", disabled: Boolean(why), "aria-label": `Make this set: ${pack.title}`, onclick: () => makePack(pack) }, "Make this set"),
        why ? el("p", { class: "hint" }, why) : null);
    })
  );
}

async function makePack(pack) {
  clearPromptError();
  const tune = selectedTune();
  if (!tune) return;
  const plan = packPlan(pack, tune);
  // The set's prompts run on the tune's own base model, with their own settings: check those are here first.
  for (const p of plan.prompts) {
    const missing = missingFor(tune, { scheduler: p.scheduler || "dpm++2m_karras", ...p });
    if (missing) {
      say($("prompt-status"), missing.text, true);
      showOperator($("prompt-operator"), missing.operator);
      return;
    }
  }
  const before = new Set(state.prompts.map((p) => p.id));
  try {
    await api(`/p/${pack.id}/tunes`, { method: "POST", json: { tune: { tune_ids: [tune.id] } } });
  } catch (e) {
    sayError($("prompt-status"), e, $("prompt-operator"));
    return;
  }
  const prompts = await api(`/tunes/${tune.id}/prompts?limit=20`);
  const made = prompts.filter((p) => !before.has(p.id)).reverse();
  for (const p of made) follow(p, { label: `Set: ${pack.title}` });
  say($("prompt-status"), `The set "${pack.title}" is queued: ${plural(made.length, "prompt")}, ${plural(plan.images, "picture")} of "${tune.title}".`);
  schedule(refreshPrompts);
}

// ---- gallery -------------------------------------------------------------------

async function refreshTunes() {
  state.tunes = await api("/tunes?limit=120");
  renderTunes();
}

function renderTunes() {
  const current = $("prompt-tune").value;
  $("prompt-tune").replaceChildren(
    ...(state.tunes.length
      ? state.tunes.map((t) => el("option", { value: String(t.id) }, `${t.title} (${t.name}, tune ${t.id})`))
      : [el("option", { value: "" }, "No tunes yet: make one above")])
  );
  if (current && state.tunes.some((t) => String(t.id) === current)) $("prompt-tune").value = current;
  const filter = $("gallery-filter").value;
  $("gallery-filter").replaceChildren(
    el("option", { value: "" }, "every tune"),
    ...state.tunes.map((t) => el("option", { value: String(t.id) }, t.title))
  );
  if (state.tunes.some((t) => String(t.id) === filter)) $("gallery-filter").value = filter;
  $("tune-list").replaceChildren(
    ...(state.tunes.length ? [] : [el("li", { class: "empty" }, "No tunes yet.")]),
    ...state.tunes.map((t) => {
      const base = baseModel(t.base_tune_id);
      const baseName = base ? base.title.replace(/ \(.*\)$/, "") + (runnable(base) ? "" : " (not installed here)") : t.base_model;
      return el("li", { class: "tune-item" },
        el("div", { class: "faces" }, ...t.orig_images.slice(0, 4).map((src, i) => el("img", { src, alt: `photo ${i + 1} of ${t.title}`, loading: "lazy" }))),
        el("div", { class: "meta" },
          el("strong", {}, t.title),
          el("span", {}, `${t.name} · ${baseName} · ${plural(t.images.length, "photo")}`),
          el("time", { datetime: t.created_at }, `made ${when(t.created_at)}`)),
        el("div", { class: "item-actions" },
          el("button", { type: "button", class: "secondary small", onclick: () => useTune(t), "aria-label": `Use tune ${t.title}` }, "Use"),
          el("button", { type: "button", class: "secondary small", onclick: () => deleteTune(t), "aria-label": `Delete tune ${t.title}` }, "Delete")));
    })
  );
  tuneChanged();
}

function useTune(t) {
  $("prompt-tune").value = String(t.id);
  tuneChanged();
  $("prompt-section").scrollIntoView({ block: "start" });
  $("prompt-tune").focus();
}

function promptTunes(p) {
  const ids = new Set([p.tune_id]);
  for (const m of p.text.matchAll(/(?:<|&lt;)faceid:(\d+)/gi)) ids.add(Number(m[1]));
  return ids;
}

async function refreshPrompts() {
  state.prompts = await api("/prompts?limit=120");
  renderPrompts();
}

function renderPrompts() {
  const filter = Number($("gallery-filter").value) || null;
  const shown = filter ? state.prompts.filter((p) => promptTunes(p).has(filter)) : state.prompts;
  const empty = state.prompts.length ? "No prompts of this tune yet." : "No prompts yet.";
  $("prompt-list").replaceChildren(
    ...(shown.length ? [] : [el("li", { class: "empty" }, empty)]),
    ...shown.map((p) => {
      const tune = state.tunes.find((t) => t.id === p.tune_id);
      const gallery = baseModel(p.tune_id);
      const whose = tune ? tune.title : gallery ? gallery.title : "tune deleted";
      const thumb = p.images[0] ? el("img", { src: p.images[0], alt: "", loading: "lazy", class: "thumb" }) : el("span", { class: "thumb none" });
      return el("li", { class: "prompt-item", "data-prompt-id": String(p.id) },
        thumb,
        el("div", { class: "meta" },
          el("div", {}, el("strong", {}, `Prompt ${p.id}`), " · ", el("span", { class: `badge ${p.status}` }, p.status), " · ",
            el("span", { class: tune || gallery ? "" : "gone" }, whose)),
          el("time", { datetime: p.created_at }, when(p.created_at)),
          el("details", {}, el("summary", { title: p.text }, p.text))),
        el("div", { class: "item-actions" },
          el("button", { type: "button", class: "secondary small", onclick: () => showPast(p), "aria-label": `Show prompt ${p.id}` }, "Show"),
          el("button", { type: "button", class: "secondary small", onclick: () => deletePrompt(p), "aria-label": `Delete prompt ${p.id}` }, "Delete")));
    })
  );
}

async function showPast(prompt) {
  say($("gallery-status"), "");
  let job = state.jobs.get(prompt.id);
  if (!job) job = follow(prompt);
  else $("results").prepend(job.card);
  say($("prompt-status"), `Showing prompt ${prompt.id}.`);
  job.card.scrollIntoView({ block: "start" });
}

async function deleteTune(t) {
  // Decided: a tune's prompts and pictures outlive it (DELETE /tunes/{id} leaves them), and the page says so.
  const made = state.prompts.filter((p) => p.tune_id === t.id).length;
  const them = made === 1 ? "The prompt made with it stays" : `The ${made} prompts made with it stay`;
  const keep = made ? ` ${them} in your gallery, marked "tune deleted"; delete ${made === 1 ? "it" : "them"} separately if you want ${made === 1 ? "it" : "them"} gone.` : "";
  if (!confirm(`Delete tune "${t.title}"? Its photos and face are removed for good.${keep}`)) return;
  try {
    await api(`/tunes/${t.id}`, { method: "DELETE" });
    const left = made === 1 ? "Its prompt stays below" : `Its ${made} prompts stay below`;
    say($("gallery-status"), `Deleted tune "${t.title}".${made ? ` ${left}, marked "tune deleted".` : ""}`);
    await refreshTunes();
    renderPrompts();
  } catch (e) {
    sayError($("gallery-status"), e);
  }
}

let pending = null;
function schedule(fn) {
  // Many prompts finishing together refresh the gallery once.
  clearTimeout(pending);
  pending = setTimeout(() => fn().catch((e) => sayError($("gallery-status"), e)), 300);
}

async function refreshAll() {
  await loadModels(); // the first call: a bad key stops here
  await Promise.all([refreshTunes(), refreshPrompts(), loadPacks()]);
  resumeUnfinished();
}

function resumeUnfinished() {
  // Prompts still queued or running (a reload, another tab, a pack): follow every one.
  const open = state.prompts.filter((p) => !FINISHED.has(p.status) && !state.jobs.has(p.id)).reverse();
  for (const p of open) follow(p);
  if (open.length) say($("prompt-status"), `Following ${plural(open.length, "prompt")} still in progress.`);
}

// ---- wiring ----------------------------------------------------------------------

async function loadPresets() {
  const res = await fetch("/static/presets.json");
  state.presets = await res.json();
  $("presets").replaceChildren(
    ...state.presets.map((p) => el("button", { type: "button", class: "secondary", "data-preset": p.id, "aria-pressed": "false", onclick: () => applyPreset(p) }, p.title))
  );
}

function wireDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
  $("photos").addEventListener("change", (e) => { addFiles(e.target.files).finally(() => { e.target.value = ""; }); });
}

document.addEventListener("DOMContentLoaded", async () => {
  $("key-form").addEventListener("submit", (e) => { e.preventDefault(); useKey($("api-key").value); });
  $("api-key").addEventListener("input", () => markKey(false));
  $("create-key").addEventListener("click", createKey);
  $("copy-key").addEventListener("click", copyKey);
  $("tune-form").addEventListener("submit", createTune);
  for (const id of ["tune-title", "tune-class"]) $(id).addEventListener("input", updateTuneWhy);
  $("tune-base").addEventListener("change", describeBaseModel);
  $("prompt-form").addEventListener("submit", createPrompt);
  $("prompt-tune").addEventListener("change", tuneChanged);
  $("scheduler").addEventListener("change", schedulerDefaults);
  $("prompt-text").addEventListener("input", () => { if ($("prompt-text").value !== state.presetText) pressPreset(null); });
  $("gallery-filter").addEventListener("change", renderPrompts);
  $("refresh").addEventListener("click", () => refreshAll().then(() => say($("gallery-status"), "Up to date.")).catch((e) => sayError($("gallery-status"), e)));
  $("viewer-close").addEventListener("click", () => $("viewer").close());
  $("viewer").addEventListener("click", (e) => { if (e.target === $("viewer")) $("viewer").close(); });
  wireDrop();
  renderFinishing();
  renderSchedulers();
  updateTuneWhy();
  await loadPresets().catch(() => {});
  if (state.key) {
    $("api-key").value = state.key;
    await useKey(state.key, { initial: true });
  } else {
    say($("key-status"), "Paste an API key, or create one.");
  }
  document.documentElement.dataset.ready = "true";
  mark("ready");
});
