// rnnlab explorer: the page of `rnnlab serve`. Plain JavaScript, no libraries, no build step.
// Text from the model or the user is only ever set as textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SESSION = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now())
  .replace(/[^A-Za-z0-9_-]/g, "");
let models = [];
let model = null; // the description of the chosen model (GET /v1/models)
// a server started with --token is opened as http://HOST:PORT/#token=SECRET (never sent in a URL)
const TOKEN = new URLSearchParams(location.hash.slice(1)).get("token");
const HEADERS = { "content-type": "application/json", ...(TOKEN ? { authorization: `Bearer ${TOKEN}` } : {}) };
const EXPLORED = ["language", "classifier", "chatbot"]; // the kinds this page has views for

// the explorer's own calls (/api/: sessions, views) and the API's (/v1/: no session)
async function api(path, body) {
  const session = path.startsWith("/api/") ? { session: SESSION } : {};
  const response = await fetch(path, {
    method: "POST",
    headers: HEADERS,
    body: JSON.stringify({ ...session, model: model && model.id, ...body }),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showError(error) {
  const line = $("error");
  line.hidden = !error;
  line.textContent = error ? String(error.message || error) : "";
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function shown(symbol) {
  return { "\n": "\u21b5", "\t": "\u21e5", " ": "\u2423" }[symbol] ?? symbol;
}

function floats(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

// white at 0, red towards +limit, blue towards -limit
function rgb(value, limit) {
  const a = Math.min(Math.abs(value) / limit, 1) || 0;
  const end = value >= 0 ? [214, 39, 40] : [31, 119, 180];
  return end.map((channel) => Math.round(255 - a * (255 - channel)));
}

function colour(value, limit) {
  return `rgb(${rgb(value, limit).join(",")})`;
}

function bars(container, top) {
  container.replaceChildren();
  for (const [symbol, p] of top) {
    const row = el("div", undefined, "bar");
    row.append(el("span", shown(symbol), "sym"));
    const fill = el("div", undefined, "fill");
    fill.style.width = `${Math.max(1, Math.round(p * 140))}px`;
    row.append(fill, el("span", p.toFixed(3), "p"));
    container.append(row);
  }
}

// -- a heatmap of state vectors: one column per step, one row per unit ------------------------
class Heatmap {
  constructor(canvas, onColumn, onRow) {
    this.canvas = canvas;
    this.columns = [];
    this.col = 8;
    this.row = 1;
    this.drawn = 0;
    canvas.addEventListener("mousemove", (e) => onColumn && onColumn(this.at(e).column));
    canvas.addEventListener("click", (e) => onRow && onRow(this.at(e).row));
  }
  at(event) {
    const box = this.canvas.getBoundingClientRect();
    return {
      column: Math.floor((event.clientX - box.left) / this.col),
      row: Math.floor((event.clientY - box.top) / this.row),
    };
  }
  truncate(n) {
    this.columns.length = Math.min(n, this.columns.length);
    this.drawn = Math.min(this.drawn, this.columns.length);
  }
  push(values) {
    this.columns.push(values);
  }
  // paint the columns not yet painted; the visible canvas grows in steps of 64 columns, so
  // appending a step redraws one column, not the whole picture
  draw(limit) {
    const units = this.columns.length ? this.columns[0].length : 1;
    const T = this.columns.length;
    const c = this.canvas;
    const row = Math.max(1, Math.min(8, Math.floor(384 / units)));
    const width = Math.max(64, Math.ceil(T / 64) * 64) * this.col;
    if (limit !== this.limit || row !== this.row || c.width !== width || c.height !== units * row) {
      this.drawn = 0; // a new scale or size: paint everything again
      c.width = width;
      c.height = units * row;
    }
    this.limit = limit;
    this.row = row;
    const g = c.getContext("2d");
    if (this.drawn === 0) g.clearRect(0, 0, c.width, c.height);
    for (let t = this.drawn; t < T; t++) {
      const image = g.createImageData(this.col, units * row);
      this.columns[t].forEach((value, u) => {
        const pixel = [...rgb(value, limit), 255];
        for (let y = u * row; y < (u + 1) * row; y++) for (let x = 0; x < this.col; x++) image.data.set(pixel, 4 * (y * this.col + x));
      });
      g.putImageData(image, t * this.col, 0);
    }
    g.clearRect(T * this.col, 0, c.width - T * this.col, c.height);
    this.drawn = T;
    c.dataset.columns = String(T);
    c.dataset.units = String(units);
    c.parentElement.scrollLeft = T * this.col - c.parentElement.clientWidth + 40;
  }
}

// -- watch it read -----------------------------------------------------------------------------
const reading = { steps: [], busy: false, again: false, unit: null, started: 0 };
const readHeatmap = new Heatmap($("read-heatmap"), showStep, selectUnit);

function readView() {
  return { layer: Number($("read-layer").value), state: $("read-state").value };
}

function scheduleRead() {
  if (reading.busy) {
    reading.again = true;
    return;
  }
  reading.busy = true;
  reading.started = performance.now();
  const text = $("read-text").value;
  api("/api/read", { text, known: reading.steps.length, ...readView() })
    .then((answer) => {
      const arrived = performance.now();
      showError(null);
      reading.steps.length = Math.min(answer.start, reading.steps.length);
      for (const step of answer.steps) reading.steps.push({ ...step, values: floats(step.values) });
      drawReading(answer.start);
      const ms = performance.now() - reading.started;
      $("read-status").textContent = `${reading.steps.length} symbols; updated in ${ms.toFixed(1)} ms `
        + `(answer ${(arrived - reading.started).toFixed(1)} ms, of which the model's steps ${answer.server_ms.toFixed(1)} ms; `
        + `drawing ${(ms - (arrived - reading.started)).toFixed(1)} ms)`;
    })
    .catch(showError)
    .finally(() => {
      reading.busy = false;
      if (reading.again) {
        reading.again = false;
        scheduleRead();
      }
    });
}

function drawReading(start) {
  readHeatmap.truncate(start);
  for (const step of reading.steps.slice(readHeatmap.columns.length)) readHeatmap.push(step.values);
  // h lies in [-1, 1]; an LSTM's c, a transformer's key and value, are coloured up to their
  // largest magnitude (in steps of 2)
  let limit = 1;
  if ($("read-state").value !== "h") for (const s of reading.steps) for (const v of s.values) limit = Math.max(limit, Math.abs(v));
  readHeatmap.draw(Math.ceil(limit / 2) * 2 || 1);
  drawSurprisal(start);
  showStep(reading.steps.length - 1);
  colourText(start);
}

function drawSurprisal(start) {
  const c = $("read-surprisal");
  const width = readHeatmap.canvas.width;
  if (c.width !== width) {
    c.width = width;
    start = 0;
  }
  const g = c.getContext("2d");
  g.clearRect(start * readHeatmap.col, 0, c.width, c.height);
  reading.steps.forEach((step, t) => {
    if (t < start) return;
    if (step.surprisal === null) {
      g.fillStyle = "#bbb";
      g.fillRect(t * readHeatmap.col, 0, readHeatmap.col - 1, c.height);
      return;
    }
    const h = Math.min(step.surprisal / 12, 1) * c.height;
    g.fillStyle = "#e08a2c";
    g.fillRect(t * readHeatmap.col, c.height - h, readHeatmap.col - 1, h);
  });
}

function showStep(t) {
  const step = reading.steps[t];
  if (!step) {
    $("read-top").replaceChildren();
    $("top-title").textContent = "next symbol";
    $("read-surprise").textContent = "";
    return;
  }
  $("top-title").textContent = `after \u201c${shown(step.symbol)}\u201d (step ${t + 1}), next:`;
  bars($("read-top"), step.top);
  $("read-surprise").textContent = step.unknown
    ? `\u201c${step.symbol}\u201d is not in the model's vocabulary: not read`
    : `surprisal of \u201c${shown(step.symbol)}\u201d: ${step.surprisal.toFixed(2)} bits`;
}

function selectUnit(unit) {
  if (!reading.steps.length || unit < 0 || unit >= reading.steps[0].values.length) return;
  reading.unit = unit;
  colourText();
}

// colour the text from step ``start`` on (all of it when the unit or the scale changes)
function colourText(start = 0) {
  const box = $("unit-text");
  const unit = reading.unit;
  const { layer, state } = readView();
  if (unit === null || !reading.steps.length) {
    box.replaceChildren();
    return;
  }
  let limit = 1e-6;
  for (const s of reading.steps) limit = Math.max(limit, Math.abs(s.values[unit]));
  limit = state === "h" ? 1 : Math.ceil(limit / 2) * 2;
  if (box.dataset.unit !== String(unit) || box.dataset.limit !== String(limit) || box.dataset.layer !== `${layer}${state}`) start = 0;
  while (box.childNodes.length > start) box.lastChild.remove();
  $("unit-title").textContent = `the text coloured by unit ${unit} of layer ${layer} (${state})`;
  Object.assign(box.dataset, { unit: String(unit), limit: String(limit), layer: `${layer}${state}` });
  for (const step of reading.steps.slice(start)) {
    const span = el("span", step.symbol === "\n" ? "\u21b5\n" : step.symbol, step.unknown ? "unknown" : "");
    span.style.background = colour(step.values[unit], limit);
    span.title = `${state}[${layer}][${unit}] = ${step.values[unit].toFixed(3)}`;
    box.append(span);
  }
}

async function findUnits() {
  try {
    const { units } = await api("/api/units", { state: $("read-state").value });
    const box = $("units");
    box.replaceChildren();
    if (!units.length) box.append(el("span", "no property (quotes, brackets, line position) varies in this text", "muted"));
    for (const m of units) {
      const button = el("button", `${m.property}: layer ${m.layer} unit ${m.unit} (r = ${m.correlation.toFixed(2)})`);
      button.addEventListener("click", () => {
        if (Number($("read-layer").value) !== m.layer) {
          $("read-layer").value = String(m.layer);
          reading.unit = m.unit;
          resetRead();
        } else selectUnit(m.unit);
      });
      box.append(button);
    }
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function resetRead() {
  reading.steps = []; // a new view: the server sends every step again
  scheduleRead();
}

// -- generate ----------------------------------------------------------------------------------
let generation = null;
const genHeatmap = new Heatmap($("gen-heatmap"));

async function generate() {
  const number = (id) => Number($(id).value);
  const body = {
    prime: $("gen-prime").value,
    temperature: number("gen-temperature"),
    length: number("gen-length"),
    trace: readView(),
  };
  if (number("gen-top-k") > 0) body.top_k = number("gen-top-k");
  if (number("gen-top-p") < 1) body.top_p = number("gen-top-p");
  const controller = new AbortController();
  generation = controller;
  $("gen-start").disabled = true;
  $("gen-stop").disabled = false;
  const output = $("gen-output");
  output.replaceChildren(el("span", body.prime, "muted"));
  const text = el("span");
  output.append(text);
  genHeatmap.truncate(0);
  genHeatmap.draw(1);
  const started = performance.now();
  let count = 0;
  try {
    const response = await fetch("/v1/generate", {
      method: "POST",
      headers: HEADERS,
      body: JSON.stringify({ model: model.id, ...body, stream: true }),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error((await response.json()).error);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      const events = pending.split("\n\n");
      pending = events.pop();
      for (const event of events) {
        const lines = event.split("\n");
        if (lines[0] !== "event: symbol") {
          if (lines[0] === "event: error") throw new Error(JSON.parse(lines[1].slice(6)).error);
          continue;
        }
        const { text: symbol, values } = JSON.parse(lines[1].slice(6));
        text.textContent += symbol;
        genHeatmap.push(floats(values));
        count += 1;
      }
      genHeatmap.draw(1);
      const seconds = (performance.now() - started) / 1000;
      $("gen-status").textContent = `${count} symbols in ${seconds.toFixed(2)} s (${(count / seconds).toFixed(0)} per second)`;
    }
    window.rnnlabGenerated = { symbols: count, seconds: (performance.now() - started) / 1000 };
    showError(null);
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
  } finally {
    $("gen-start").disabled = false;
    $("gen-stop").disabled = true;
  }
}

// -- gradients -----------------------------------------------------------------------------------
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

function svg(tag, attributes, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// lines: [{label, values}] plotted against their index; log: a log10 y axis
function plot(target, lines, { log = false, xlabel = "", ylabel = "", ymin = null, ymax = null } = {}) {
  const W = 640, H = 260, L = 60, R = 10, T = 10, B = 40;
  target.replaceChildren();
  const f = (v) => (log ? Math.log10(Math.max(v, 1e-300)) : v);
  const all = lines.flatMap((l) => l.values.filter((v) => Number.isFinite(v) && (!log || v > 0)).map(f));
  if (!all.length) return;
  let lo = ymin ?? Math.min(...all), hi = ymax ?? Math.max(...all);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const n = Math.max(...lines.map((l) => l.values.length)) - 1 || 1;
  const x = (i) => L + (i / n) * (W - L - R);
  const y = (v) => T + (1 - (f(v) - lo) / (hi - lo)) * (H - T - B);
  target.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#888" }));
  target.append(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#888" }));
  for (const tick of [lo, (lo + hi) / 2, hi]) {
    const yy = T + (1 - (tick - lo) / (hi - lo)) * (H - T - B);
    target.append(svg("text", { x: 4, y: yy + 4 }, log ? `1e${tick.toFixed(1)}` : tick.toFixed(2)));
  }
  target.append(svg("text", { x: L, y: H - 22 }, "0"));
  target.append(svg("text", { x: W - R - 20, y: H - 22 }, String(n)));
  target.append(svg("text", { x: W / 2 - 80, y: H - 6 }, xlabel));
  target.append(svg("text", { x: L + 6, y: T + 12 }, ylabel));
  lines.forEach((line, k) => {
    const points = line.values
      .map((v, i) => (Number.isFinite(v) && (!log || v > 0) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : null))
      .filter(Boolean)
      .join(" ");
    target.append(svg("polyline", { points, fill: "none", stroke: PALETTE[k % PALETTE.length], "stroke-width": 1.5 }));
    target.append(svg("text", { x: W - 200, y: T + 14 + 14 * k, fill: PALETTE[k % PALETTE.length] }, line.label));
  });
}

async function loadGradients() {
  $("grad-status").textContent = "measuring ...";
  try {
    const answer = await api("/api/gradients", {});
    plot($("grad-plot"), answer.norms.map((values, l) => ({ label: `layer ${l} (${answer.decay[l].toFixed(3)}/step)`, values })), {
      log: true, xlabel: "k: steps back from the last step", ylabel: "||dL_T/dh_(T-k)||",
    });
    $("grad-status").textContent = `||dL_T/dh_(T-k)||, mean over ${answer.windows} windows of held-out text, log scale; the fitted factor per step is in the legend.`;
  } catch (error) {
    $("grad-status").textContent = String(error.message);
  }
}

const toyState = { busy: false, again: false };
async function loadToy() {
  const scale = Number($("toy-scale").value);
  $("toy-scale-value").textContent = scale.toFixed(2);
  if (toyState.busy) { toyState.again = true; return; }
  toyState.busy = true;
  try {
    const nonlinearity = $("toy-nonlinearity").value;
    const { norms } = await api("/api/toy", { scale, nonlinearity });
    plot($("toy-plot"), [{ label: `${nonlinearity}, scale ${scale.toFixed(2)}`, values: norms }], {
      log: true, xlabel: "k: steps back", ylabel: "||\u03a0 J|| relative to k = 0",
    });
    const last = norms[norms.length - 1];
    $("toy-status").textContent = `after ${norms.length - 1} steps the gradient is ${last.toExponential(2)} of its size at the last step`
      + (last < 1e-3 ? ": it has vanished" : last > 1e3 ? ": it has exploded" : "");
  } catch (error) {
    $("toy-status").textContent = String(error.message);
  } finally {
    toyState.busy = false;
    if (toyState.again) { toyState.again = false; loadToy(); }
  }
}

// -- the RNN game --------------------------------------------------------------------------------
const game = { active: false, busy: false, cursor: null, queue: [] };

async function startGame() {
  try {
    const answer = await api("/api/game/start", { length: Number($("game-length").value) });
    const box = $("game-text");
    box.replaceChildren(el("span", answer.lead, "lead"));
    if (answer.then) box.append(el("span", answer.then, "shown"));
    game.cursor = el("span", "\u2009", "cursor");
    box.append(game.cursor);
    game.active = true;
    game.queue = [];
    $("game-feedback").textContent = "your turn: what comes next?";
    $("game-top").replaceChildren();
    $("game-score").textContent = `you: 0/${answer.length}, the RNN: 0/${answer.length}`;
    (model.level === "word" ? $("game-word") : box).focus();
    showError(null);
  } catch (error) {
    showError(error);
  }
}

// keys pressed while a guess is on its way wait their turn, in order
function guess(text) {
  if (!game.active) return;
  game.queue.push(text);
  if (!game.busy) nextGuess();
}

async function nextGuess() {
  const text = game.queue.shift();
  if (text === undefined || !game.active) {
    game.queue = [];
    return;
  }
  game.busy = true;
  try {
    const a = await api("/api/game/guess", { guess: text });
    const span = el("span", a.actual === "\n" ? "\u21b5\n" : a.actual, a.hit ? "hit" : "miss");
    span.title = `you: ${shown(text)}, the RNN: ${shown(a.model_guess)}`;
    game.cursor.before(span);
    if (a.then) game.cursor.before(el("span", a.then, "shown"));
    $("game-feedback").textContent =
      `it was \u201c${shown(a.actual)}\u201d: you ${a.hit ? "\u2713" : "\u2717"} (${shown(text)}), `
      + `the RNN ${a.model_hit ? "\u2713" : "\u2717"} (${shown(a.model_guess)}); the RNN gave it ${a.bits.toFixed(2)} bits of surprise. The RNN's top 5:`;
    bars($("game-top"), a.top);
    const score = `you: ${a.you}/${a.asked}, the RNN: ${a.rnn}/${a.asked}`;
    if (a.done) {
      game.active = false;
      $("game-score").textContent = `Round over. ${score}; the RNN's cross-entropy: ${a.bits_per_symbol.toFixed(2)} bits per symbol.`;
      $("game-score").dataset.done = "true";
    } else {
      $("game-score").textContent = `${score} (of ${a.length})`;
      $("game-score").dataset.done = "false";
    }
    showError(null);
  } catch (error) {
    showError(error);
  } finally {
    game.busy = false;
    nextGuess();
  }
}

// -- classify ------------------------------------------------------------------------------------
const classifying = { busy: false, again: false };
async function classify() {
  if (classifying.busy) { classifying.again = true; return; }
  classifying.busy = true;
  try {
    const text = $("cls-text").value;
    if (!text.trim()) return;
    const a = await api("/api/classify", { text });
    const units = model.level === "series" ? "steps" : "symbols";
    plot($("cls-plot"), a.labels.map((label, c) => ({ label, values: a.probabilities.map((p) => p[c]) })), {
      xlabel: `${units} read`, ylabel: "probability", ymin: 0, ymax: 1,
    });
    const last = a.probabilities[a.probabilities.length - 1];
    const best = last.indexOf(Math.max(...last));
    $("cls-final").textContent = `after ${a.symbols.length} ${units}: ${a.labels[best]} (${last[best].toFixed(3)})`;
    showError(null);
  } catch (error) {
    showError(error);
  } finally {
    classifying.busy = false;
    if (classifying.again) { classifying.again = false; classify(); }
  }
}

// -- talk to a chatbot ---------------------------------------------------------------------------
const talking = { turns: [], busy: false };

function resetTalk() {
  talking.turns = [];
  $("talk-log").replaceChildren();
  $("talk-log").dataset.turns = "0";
}

async function say() {
  const text = $("talk-input").value.trim();
  if (!text || talking.busy) return;
  talking.busy = true;
  $("talk-input").value = "";
  $("talk-log").append(el("p", text, "you"));
  try {
    const temperature = Number($("talk-temperature").value);
    const a = await api("/v1/chat", {
      turns: [...talking.turns, text],
      temperature: temperature > 0 ? temperature : null,
      diverse: Number($("talk-diverse").value) || 0,
      seed: talking.turns.length,
    });
    talking.turns.push(text, a.reply);
    $("talk-log").append(el("p", a.reply, "bot"));
    $("talk-log").dataset.turns = String(talking.turns.length);
    showError(null);
  } catch (error) {
    showError(error);
  } finally {
    talking.busy = false;
  }
}

// -- the page ------------------------------------------------------------------------------------
function show(view) {
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.view === view);
  for (const section of document.querySelectorAll("main section")) section.hidden = section.id !== `view-${view}`;
  if (view === "gradients") {
    if (model.insight) loadGradients();
    else $("grad-status").textContent = "the gradient view reads models of plain stacked layers";
    loadToy();
  }
}

function chooseModel(id) {
  model = models.find((m) => m.id === id);
  const size = `${model.cell} ${model.layers} x ${model.hidden}`;
  const count = `${model.parameters.toLocaleString()} parameters`;
  $("model-info").textContent = {
    classifier: `${size} classifier (${model.level}), ${count}; classes: ${(model.labels || []).join(", ")}`,
    chatbot: `${size} chatbot (${model.level}), ${count}; reads ${model.context} turns before the last`,
    language: `${size} language model (${model.level}), ${count}`,
  }[model.kind];
  for (const button of document.querySelectorAll("#tabs button")) button.hidden = !button.classList.contains(model.kind);
  $("cls-what").textContent = model.level === "series" ? "Type a series, one step per line" : "Type a text";
  $("cls-text").placeholder = model.level === "series"
    ? `one step per line: ${model.channels.length} numbers (${model.channels.join(", ")}), comma-separated`
    : "";
  if (model.kind === "language") {
    $("read-layer").replaceChildren(...Array.from({ length: model.layers }, (_, l) => el("option", String(l))));
    $("read-layer").value = String(model.layers - 1);
    $("read-state").replaceChildren(...model.states.map((s) => el("option", s)));
    $("game-word").hidden = model.level !== "word";
    reading.unit = null;
    resetRead();
  }
  resetTalk();
  show({ language: "read", classifier: "classify", chatbot: "talk" }[model.kind]);
}

async function start() {
  for (const button of document.querySelectorAll("#tabs button")) button.addEventListener("click", () => show(button.dataset.view));
  $("read-text").addEventListener("input", scheduleRead);
  $("read-layer").addEventListener("change", resetRead);
  $("read-state").addEventListener("change", resetRead);
  $("find-units").addEventListener("click", findUnits);
  $("gen-start").addEventListener("click", generate);
  $("gen-stop").addEventListener("click", () => generation && generation.abort());
  $("toy-scale").addEventListener("input", loadToy);
  $("toy-nonlinearity").addEventListener("change", loadToy);
  $("game-start").addEventListener("click", startGame);
  $("game-text").addEventListener("keydown", (e) => {
    if (model.level === "word" || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key === "Enter" ? "\n" : e.key === "Tab" ? "\t" : e.key;
    if ([...key].length !== 1) return;
    e.preventDefault();
    guess(key);
  });
  $("game-word").addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    guess(e.target.value.trim());
    e.target.value = "";
  });
  $("cls-text").addEventListener("input", classify);
  $("talk-send").addEventListener("click", say);
  $("talk-reset").addEventListener("click", resetTalk);
  $("talk-input").addEventListener("keydown", (e) => { if (e.key === "Enter") say(); });
  $("model").addEventListener("change", (e) => chooseModel(e.target.value));
  try {
    const response = await fetch("/v1/models", { headers: HEADERS });
    if (!response.ok) throw new Error((await response.json()).error);
    models = (await response.json()).models.filter((m) => EXPLORED.includes(m.kind));
    if (models.length === 0) throw new Error("none of the served models has a view here; the API serves them (see /docs)");
    $("model").replaceChildren(...models.map((m) => {
      const option = el("option", `${m.id} (${m.kind})`);
      option.value = m.id;
      return option;
    }));
    chooseModel(models[0].id);
  } catch (error) {
    showError(error);
  }
}

start();
