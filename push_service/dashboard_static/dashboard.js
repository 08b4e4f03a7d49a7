// The operator dashboard: signs in with the admin token, keeps one websocket to the live feed
// and redraws from its messages. Everything the server sends is shown with textContent, never
// parsed as HTML: challenge contexts are written by apps and may be hostile.
"use strict";

(() => {
  const TOKEN_KEY = "push-approval.admin-token";
  const RECENT_MAX = 50;
  const RETRY_MAX_MS = 30000;
  const $ = (id) => document.getElementById(id);

  const state = {
    pending: new Map(), // challenge_id -> challenge view
    recent: [], // newest decision first
    ended: new Set(), // ids already ended: a late "created" must not bring one back
    devices: new Map(), // device_id -> {device_id, user_id, name, connected, revoked?}
    rates: new Map(), // app_id -> {name, created: Map(challenge_id -> ms)}
    windowMs: 60000,
    offsetMs: 0, // server clock minus this browser's, so countdowns match the server
  };
  let socket = null;
  let retries = 0;
  let retryTimer = null;

  // Small helpers
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function serverNow() {
    return Date.now() + state.offsetMs;
  }

  function ms(time) {
    return Date.parse(time);
  }

  function clock(totalSeconds) {
    const s = Math.max(0, Math.round(totalSeconds));
    const minutes = Math.floor(s / 60);
    return `${minutes}:${String(s % 60).padStart(2, "0")}`;
  }

  function ago(time) {
    const seconds = Math.max(0, Math.round((serverNow() - ms(time)) / 1000));
    return seconds < 90 ? `${seconds}s ago` : `${Math.round(seconds / 60)} min ago`;
  }

  function words(slug) {
    return slug.replaceAll("_", " ");
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  // Sign-in and the connection
  function setStatus(text, kind) {
    const pill = $("status");
    pill.textContent = text;
    pill.dataset.kind = kind;
  }

  function showSignIn(message) {
    $("sign-in").hidden = false;
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("fraud-count").hidden = true;
    const error = $("sign-in-error");
    error.textContent = message || "";
    error.hidden = !message;
    setStatus("signed out", "off");
    $("token").focus();
  }

  // Closes the current socket, if any, so that its close handler does nothing.
  function dropSocket(reason) {
    clearTimeout(retryTimer);
    if (!socket) return;
    const old = socket;
    socket = null;
    old.close(1000, reason);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    dropSocket("signed out");
    showSignIn(message);
  }

  function connect() {
    dropSocket("replaced");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/v1/admin/stream`);
    socket = ws;
    setStatus("connecting…", "wait");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: token() }));
    ws.onmessage = (event) => {
      if (ws === socket) handle(JSON.parse(event.data));
    };
    ws.onclose = (event) => {
      if (ws !== socket) return;
      socket = null;
      if (event.code === 4401) signOut("The admin token was refused.");
      else if (token()) reconnectLater();
    };
  }

  // Reconnects back off; a fresh snapshot follows each one, so nothing is missed.
  function reconnectLater() {
    const delay = Math.min(RETRY_MAX_MS, 1000 * 2 ** retries);
    retries += 1;
    setStatus(`reconnecting in ${Math.round(delay / 1000)}s`, "wait");
    retryTimer = setTimeout(connect, delay);
  }

  function onSignIn(event) {
    event.preventDefault();
    const input = $("token");
    const value = input.value.trim();
    input.value = "";
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    connect();
  }

  // Feed messages
  function handle(message) {
    const handlers = {
      snapshot: onSnapshot,
      "challenge.created": (m) => onCreated(m.challenge),
      "challenge.ended": (m) => onEnded(m.challenge),
      "device.presence": (m) => onPresence(m.device),
      "device.revoked": (m) => onRevoked(m.device_id),
    };
    if (Object.hasOwn(handlers, message.type)) handlers[message.type](message);
  }

  function onSnapshot(message) {
    retries = 0;
    state.offsetMs = ms(message.server_time) - Date.now();
    state.pending = new Map(message.pending.map((c) => [c.challenge_id, c]));
    state.recent = message.recent.slice(0, RECENT_MAX);
    state.ended = new Set(state.recent.map((c) => c.challenge_id));
    state.devices = new Map(message.devices.map((d) => [d.device_id, d]));
    seedRates(message.rates);
    $("sign-in").hidden = true;
    $("board").hidden = false;
    $("sign-out").hidden = false;
    setStatus("live", "live");
    renderAll();
  }

  function onCreated(challenge) {
    const id = challenge.challenge_id;
    if (state.ended.has(id)) return;
    state.pending.set(id, challenge);
    countRate(challenge);
    renderPending();
    renderRates();
  }

  function onEnded(challenge) {
    const id = challenge.challenge_id;
    state.pending.delete(id);
    state.ended.add(id);
    state.recent = [challenge, ...state.recent.filter((c) => c.challenge_id !== id)];
    state.recent.sort((a, b) => decidedMs(b) - decidedMs(a));
    state.recent.length = Math.min(state.recent.length, RECENT_MAX);
    renderPending();
    renderRecent();
  }

  function decidedMs(challenge) {
    return ms(challenge.decided_at || challenge.created_at);
  }

  function onPresence(device) {
    const known = state.devices.get(device.device_id);
    if (known && known.revoked) return;
    if (device.connected) {
      state.devices.set(device.device_id, { ...device, name: device.name ?? known?.name ?? null });
    } else {
      state.devices.delete(device.device_id);
    }
    renderDevices();
  }

  function onRevoked(deviceId) {
    const known = state.devices.get(deviceId);
    if (!known) return;
    state.devices.set(deviceId, { ...known, connected: false, revoked: true });
    renderDevices();
  }

  // Rates: seeded from the snapshot, then counted from live "created" events by id.
  function seedRates(rates) {
    state.windowMs = rates.window_seconds * 1000;
    state.rates = new Map();
    for (const [appId, app] of Object.entries(rates.apps)) {
      const created = new Map(app.created.map((c) => [c.challenge_id, ms(c.created_at)]));
      state.rates.set(appId, { name: app.name, created });
    }
  }

  function countRate(challenge) {
    let app = state.rates.get(challenge.app_id);
    if (!app) {
      app = { name: challenge.app_name, created: new Map() };
      state.rates.set(challenge.app_id, app);
    }
    app.created.set(challenge.challenge_id, ms(challenge.created_at));
  }

  function ageRates() {
    const since = serverNow() - state.windowMs;
    let changed = false;
    for (const [appId, app] of state.rates) {
      for (const [id, at] of app.created) {
        if (at <= since) {
          app.created.delete(id);
          changed = true;
        }
      }
      if (app.created.size === 0) state.rates.delete(appId);
    }
    return changed;
  }

  // Actions, through the REST API with the admin token in the Authorization header
  async function act(button, method, path, what) {
    button.disabled = true;
    try {
      const response = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${token()}` },
        cache: "no-store",
        credentials: "omit",
      });
      if (response.status === 401) return signOut("The admin token was refused.");
      if (!response.ok) showError(`${what}: ${await errorMessage(response)}`);
    } catch (error) {
      showError(`${what}: the service could not be reached.`);
    }
    // The feed reports the outcome; the button comes back only if nothing changed.
    button.disabled = false;
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      return body.error.message;
    } catch (error) {
      return `HTTP ${response.status}`;
    }
  }

  let errorTimer = null;
  function showError(text) {
    const box = $("action-error");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => {
      box.hidden = true;
    }, 8000);
  }

  function cancel(button, challenge) {
    const who = `${challenge.app_name || challenge.app_id} for ${challenge.user_id}`;
    if (!confirm(`Cancel the pending challenge of ${who}?`)) return;
    const path = `/v1/challenges/${encodeURIComponent(challenge.challenge_id)}`;
    act(button, "DELETE", path, "Cancel failed");
  }

  function revoke(button, device) {
    const who = `${device.name || device.device_id} of ${device.user_id}`;
    if (!confirm(`Revoke the device ${who}? It will have to be enrolled again.`)) return;
    const path = `/v1/admin/devices/${encodeURIComponent(device.device_id)}`;
    act(button, "DELETE", path, "Revoke failed");
  }

  // Rendering: each list is rebuilt from state; the ticker updates times in place.
  function fill(listId, items, row) {
    const list = $(listId);
    list.replaceChildren(...items.map(row));
    document.querySelector(`[data-empty-for="${listId}"]`).hidden = items.length > 0;
  }

  function contextOf(challenge) {
    const box = el("div", "context");
    for (const [key, value] of Object.entries(challenge.context || {})) {
      const pair = el("span", "kv");
      pair.append(el("span", "k", key), el("span", "v", value));
      box.append(pair);
    }
    return box;
  }

  function head(challenge) {
    const line = el("div", "head");
    line.append(
      el("strong", "app", challenge.app_name || challenge.app_id),
      el("span", "user", challenge.user_id),
    );
    return line;
  }

  function pendingRow(challenge) {
    const row = el("li", "row");
    row.dataset.id = challenge.challenge_id;
    const times = el("div", "meta");
    const age = el("span", "age");
    age.dataset.created = challenge.created_at;
    const countdown = el("span", "countdown");
    countdown.dataset.expires = challenge.expires_at;
    times.append(age, countdown);
    const button = el("button", "danger", "Cancel");
    button.type = "button";
    button.addEventListener("click", () => cancel(button, challenge));
    const body = el("div", "body");
    body.append(head(challenge), contextOf(challenge), times);
    row.append(body, button);
    tickRow(row);
    return row;
  }

  function recentRow(challenge) {
    const fraud = challenge.reason === "fraud_reported";
    const row = el("li", fraud ? "row fraud" : "row");
    row.dataset.id = challenge.challenge_id;
    row.dataset.status = challenge.status;
    const badges = el("div", "badges");
    badges.append(el("span", `badge status-${challenge.status}`, challenge.status));
    if (fraud) badges.append(el("span", "badge fraud-badge", "fraud reported"));
    else if (challenge.reason) badges.append(el("span", "badge reason", words(challenge.reason)));
    const meta = el("div", "meta");
    const when = challenge.decided_at || challenge.created_at;
    meta.append(el("span", "when", new Date(ms(when)).toLocaleTimeString()));
    if (challenge.device_id) meta.append(el("span", "id", challenge.device_id));
    const body = el("div", "body");
    body.append(head(challenge), contextOf(challenge), meta);
    row.append(body, badges);
    return row;
  }

  function deviceRow(device) {
    const row = el("li", device.revoked ? "row revoked" : "row");
    row.dataset.id = device.device_id;
    const body = el("div", "body");
    const line = el("div", "head");
    line.append(
      el("strong", "name", device.name || "(unnamed)"),
      el("span", "user", device.user_id),
    );
    body.append(line, el("div", "meta id", device.device_id));
    if (device.revoked) {
      row.append(body, el("span", "badge status-revoked", "revoked"));
    } else {
      const button = el("button", "danger", "Revoke");
      button.type = "button";
      button.addEventListener("click", () => revoke(button, device));
      row.append(body, button);
    }
    return row;
  }

  function rateRow([appId, app]) {
    const row = el("li", "rate");
    row.dataset.app = appId;
    row.append(el("span", "app", app.name || appId), el("span", "per-minute", app.created.size));
    return row;
  }

  function renderPending() {
    const items = [...state.pending.values()].sort((a, b) => ms(a.expires_at) - ms(b.expires_at));
    fill("pending", items, pendingRow);
    $("pending-count").textContent = String(items.length);
  }

  function renderRecent() {
    fill("recent", state.recent, recentRow);
    const frauds = state.recent.filter((c) => c.reason === "fraud_reported").length;
    const pill = $("fraud-count");
    pill.textContent = `${frauds} fraud report${frauds === 1 ? "" : "s"}`;
    pill.hidden = frauds === 0;
  }

  function renderDevices() {
    const items = [...state.devices.values()].sort((a, b) =>
      `${a.user_id}\u0000${a.name}`.localeCompare(`${b.user_id}\u0000${b.name}`),
    );
    fill("devices", items, deviceRow);
    $("devices-count").textContent = String(items.filter((d) => !d.revoked).length);
  }

  function renderRates() {
    ageRates();
    const items = [...state.rates].sort((a, b) => b[1].created.size - a[1].created.size);
    fill("rates", items, rateRow);
  }

  function renderAll() {
    renderPending();
    renderRecent();
    renderDevices();
    renderRates();
  }

  function tickRow(row) {
    const age = row.querySelector("[data-created]");
    const countdown = row.querySelector("[data-expires]");
    age.textContent = `asked ${ago(age.dataset.created)}`;
    const left = (ms(countdown.dataset.expires) - serverNow()) / 1000;
    countdown.textContent = left > 0 ? `expires in ${clock(left)}` : "expiring…";
    countdown.classList.toggle("soon", left <= 10);
  }

  // A local clock for countdowns and the rate window; it asks the server nothing.
  function tick() {
    if ($("board").hidden) return;
    for (const row of $("pending").children) tickRow(row);
    if (ageRates()) renderRates();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", onSignIn);
    $("sign-out").addEventListener("click", () => signOut());
    setInterval(tick, 1000);
    if (token()) connect();
    else showSignIn();
  });
})();
