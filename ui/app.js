// The UI: a thin view over the SDK's events. Commands go to Rust with `invoke`; SDK events
// arrive as `trtc-event` with the same names and keys room-bot prints (qa-contract §2).
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;
const $ = (id) => document.getElementById(id);

const SCENES = { videocall: "Video call", live: "Live streaming", audiocall: "Audio call", voicechatroom: "Voice chat room" };
const LIVE_SCENES = new Set(["live", "voicechatroom"]);
const EXIT_REASONS = {
  1: "You were removed from the room (your user ID entered it from somewhere else).",
  2: "The room was dissolved.",
};

const state = {
  phase: "join", // join → entering → room → leaving → join
  self: "",
  room: "",
  scene: "videocall",
  role: "anchor",
  camera: true,
  mic: false,
  members: new Set(),
  lastError: null,
  connection: null,
};

// ---------- toasts and dialogs ----------
// One toast at a time, each readable: a toast stays at least TOAST_MIN_MS before the next
// replaces it (entering a room on a machine without devices raises "Enter room success" and
// three device warnings within milliseconds), and hides TOAST_MS after it appeared.
const TOAST_MIN_MS = 1500;
const TOAST_MS = 4000;
const toastQueue = [];
let toastShownAt = 0;
let toastTimer = 0;
// `detail` (the reason behind a fixed text QA matches) shows on hover.
function toast(text, detail) {
  toastQueue.push({ text, detail });
  if (toastQueue.length === 1) showNextToast();
}
function showNextToast() {
  const wait = toastShownAt + TOAST_MIN_MS - performance.now();
  const t = $("toast");
  if (!t.hidden && wait > 0) {
    clearTimeout(toastTimer);
    toastTimer = setTimeout(showNextToast, wait);
    return;
  }
  const next = toastQueue.shift();
  if (!next) {
    t.hidden = true;
    return;
  }
  t.textContent = next.text;
  t.title = next.detail || "";
  t.hidden = false;
  toastShownAt = performance.now();
  clearTimeout(toastTimer);
  toastTimer = setTimeout(showNextToast, toastQueue.length ? TOAST_MIN_MS : TOAST_MS);
}

const dialogs = [];
function openDialog(id, onEscape) {
  $(id).hidden = false;
  dialogs.push({ id, onEscape });
  const focusable = $(id).querySelector("button.primary, button.danger, input, button");
  if (focusable) focusable.focus();
}
function closeDialog(id) {
  $(id).hidden = true;
  const i = dialogs.findIndex((d) => d.id === id);
  if (i >= 0) dialogs.splice(i, 1);
}
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && dialogs.length) {
    e.preventDefault();
    dialogs[dialogs.length - 1].onEscape();
  }
});

function showError(title, code, message, then) {
  $("error-title").textContent = title;
  $("error-dialog-message").textContent = code === undefined ? message : `Error ${code}: ${message}`;
  const confirm = () => {
    closeDialog("error-dialog");
    if (then) then();
  };
  $("error-dialog-confirm").onclick = confirm;
  openDialog("error-dialog", confirm);
}

// ---------- join screen ----------
function setSwitch(id, on) {
  $(id).setAttribute("aria-checked", on ? "true" : "false");
}
function switchOn(id) {
  return $(id).getAttribute("aria-checked") === "true";
}
for (const id of ["camera-switch", "mic-switch"]) {
  $(id).addEventListener("click", () => {
    setSwitch(id, !switchOn(id));
    invoke("set_media_switches", { camera: switchOn("camera-switch"), mic: switchOn("mic-switch") }).catch(() => {});
  });
}

function syncRoleVisibility() {
  $("role-field").hidden = !LIVE_SCENES.has($("scene").value);
}
$("scene").addEventListener("change", syncRoleVisibility);
$("room-id-type").addEventListener("change", () => {
  $("room-id").inputmode = $("room-id-type").value === "numeric" ? "numeric" : "text";
  clearValidation();
});

function clearValidation() {
  const v = $("validation-message");
  v.hidden = true;
  v.textContent = "";
  v.removeAttribute("data-code");
  for (const id of ["room-id", "user-id"]) $(id).removeAttribute("aria-invalid");
}
for (const id of ["room-id", "user-id"]) $(id).addEventListener("input", clearValidation);

function showValidation(err) {
  const v = $("validation-message");
  v.textContent = `${err.message} (${err.code})`;
  v.dataset.code = String(err.code);
  v.hidden = false;
  const field = { roomId: "room-id", userId: "user-id" }[err.field];
  if (field) {
    $(field).setAttribute("aria-invalid", "true");
    $(field).focus();
  }
}

function setEntering(on) {
  $("enter-room").classList.toggle("busy", on);
  $("enter-room").querySelector(".label").textContent = on ? "Entering…" : "Enter the meeting";
}

$("join-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (state.phase !== "join") return;
  clearValidation();
  const form = {
    roomId: $("room-id").value,
    roomIdType: $("room-id-type").value,
    userId: $("user-id").value,
    scene: $("scene").value,
    role: $("role").value,
    camera: switchOn("camera-switch"),
    mic: switchOn("mic-switch"),
  };
  state.phase = "entering";
  state.lastError = null;
  // Set before asking: the command is async, and onEnterRoom can arrive before its reply.
  state.self = form.userId;
  state.room = form.roomId;
  state.scene = form.scene;
  state.role = form.role;
  state.camera = form.camera;
  state.mic = form.mic;
  setEntering(true);
  try {
    await invoke("enter_room", { form });
  } catch (err) {
    state.phase = "join";
    setEntering(false);
    if (err && err.kind === "validation") showValidation(err);
    else showError("Could not enter the room", undefined, (err && err.message) || String(err));
  }
});

// ---------- room screen ----------
const COLORS = ["#3b82f6", "#8b5cf6", "#ec4899", "#f59e0b", "#10b981", "#06b6d4", "#ef4444", "#84cc16"];
function colorFor(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return COLORS[h % COLORS.length];
}
function initials(id) {
  return id.replace(/[_-]+/g, " ").trim().slice(0, 2).toUpperCase() || "?";
}

function renderRoom() {
  $("room-title").textContent = `Room ${state.room}`;
  $("room-scene").textContent = SCENES[state.scene] || state.scene;
  const people = [state.self, ...[...state.members].sort()];
  $("member-count").textContent = `(${people.length})`;
  const list = $("member-list");
  list.replaceChildren(
    ...people.map((id, i) => {
      const li = document.createElement("li");
      li.dataset.testid = `member-${id}`;
      li.setAttribute("data-testid", `member-${id}`);
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.style.background = colorFor(id);
      dot.textContent = initials(id);
      const name = document.createElement("span");
      name.textContent = id;
      li.append(dot, name);
      if (i === 0) {
        const you = document.createElement("span");
        you.className = "you";
        you.textContent = "you";
        li.append(you);
        li.setAttribute("aria-label", `${id} (you)`);
      }
      return li;
    }),
  );
}

function showScreen(which) {
  $("join-screen").hidden = which !== "join";
  $("room-screen").hidden = which !== "room";
}

function backToJoin() {
  Media.leave();
  state.phase = "join";
  state.members.clear();
  $("net-banner").hidden = true;
  closeDialog("leave-dialog");
  setEntering(false);
  showScreen("join");
}

$("leave-room").addEventListener("click", () => openDialog("leave-dialog", () => closeDialog("leave-dialog")));
$("leave-cancel").addEventListener("click", () => closeDialog("leave-dialog"));
$("leave-confirm").addEventListener("click", () => {
  closeDialog("leave-dialog");
  state.phase = "leaving";
  invoke("exit_room");
});

// ---------- SDK events ----------
function onEvent(e) {
  if (state.phase === "room" && Media.onEvent(e)) return;
  switch (e.event) {
    case "onError":
      if (state.phase === "entering") {
        state.lastError = e;
      } else if (state.phase === "room" && e.errCode === -8) {
        backToJoin();
        showError("Connection lost", e.errCode, e.errMsg);
      } else {
        toast(`${e.errMsg} (${e.errCode})`);
      }
      break;
    case "onEnterRoom":
      if (e.result > 0) {
        state.phase = "room";
        state.members.clear();
        setEntering(false);
        showScreen("room");
        renderRoom();
        toast("Enter room success");
        Media.enter(state.self, state.scene, state.role, state.camera, state.mic);
      } else {
        const msg = state.lastError && state.lastError.errCode === e.result ? state.lastError.errMsg : "Failed to enter the room";
        backToJoin();
        showError("Could not enter the room", e.result, msg);
      }
      break;
    case "onExitRoom":
      backToJoin();
      if (EXIT_REASONS[e.reason]) showError("You left the meeting", undefined, EXIT_REASONS[e.reason]);
      break;
    case "onRemoteUserEnterRoom":
      state.members.add(e.userId);
      if (state.phase === "room") renderRoom();
      break;
    case "onRemoteUserLeaveRoom":
      state.members.delete(e.userId);
      if (state.phase === "room") renderRoom();
      break;
    case "onConnectionLost":
      $("net-banner").textContent = "Connection lost — reconnecting…";
      $("net-banner").hidden = false;
      break;
    case "onTryToReconnect":
      $("net-banner").textContent = "Reconnecting…";
      $("net-banner").hidden = false;
      break;
    case "onConnectionRecovery":
      $("net-banner").hidden = true;
      toast("Reconnected");
      break;
    case "onSwitchRole":
      toast(e.errCode === 0 ? "Role switched" : `Could not switch role: ${e.errMsg} (${e.errCode})`);
      break;
    case "onWarning":
      toast(`${e.warningMsg} (${e.warningCode})`);
      break;
  }
}

// ---------- settings ----------
function describeConnection(c) {
  const where = c.mode === "builtin" ? "Built-in server" : c.serverUrl;
  const how = c.signing === "test signing" ? "test signing" : "userSig";
  return `${where} · app ${c.sdkAppId} · ${how}`;
}
function showConnection(c) {
  state.connection = c;
  $("conn-info").textContent = describeConnection(c);
  $("conn-info").title = c.serverUrl;
  if (c.userSigUser && !$("user-id").value) $("user-id").value = c.userSigUser;
}
function syncSettingsFields() {
  const remote = document.querySelector('input[name="server-mode"]:checked').value === "remote";
  $("remote-fields").disabled = !remote;
  const secret = $("set-signing").value === "secret";
  $("set-secret-field").hidden = !secret;
  $("set-sig-field").hidden = secret;
}
for (const el of document.querySelectorAll('input[name="server-mode"]')) el.addEventListener("change", syncSettingsFields);
$("set-signing").addEventListener("change", syncSettingsFields);
$("settings-open").addEventListener("click", () => {
  $("settings-error").hidden = true;
  syncSettingsFields();
  openDialog("settings-dialog", () => closeDialog("settings-dialog"));
});
$("settings-cancel").addEventListener("click", () => closeDialog("settings-dialog"));
$("settings-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const remote = document.querySelector('input[name="server-mode"]:checked').value === "remote";
  const secretMode = $("set-signing").value === "secret";
  const server = remote
    ? {
        serverUrl: $("set-url").value.trim(),
        sdkAppId: Number($("set-appid").value) || null,
        secret: secretMode ? $("set-secret").value : null,
        userSig: secretMode ? null : $("set-sig").value.trim(),
      }
    : {};
  try {
    showConnection(await invoke("save_server_settings", { server }));
    closeDialog("settings-dialog");
    toast("Server settings saved");
  } catch (err) {
    $("settings-error").textContent = (err && err.message) || String(err);
    $("settings-error").hidden = false;
  }
});

// What media.js uses.
const App = { toast, openDialog, closeDialog, colorFor, initials, LIVE_SCENES };

// ---------- start ----------
async function start() {
  await listen("trtc-event", (msg) => onEvent(msg.payload));
  const { settings, connection } = await invoke("startup");
  $("room-id").value = settings.roomId || "";
  $("room-id-type").value = settings.roomIdType === "string" ? "string" : "numeric";
  $("user-id").value = settings.userId || "";
  $("scene").value = SCENES[settings.scene] ? settings.scene : "videocall";
  $("role").value = settings.role === "audience" ? "audience" : "anchor";
  setSwitch("camera-switch", settings.camera);
  setSwitch("mic-switch", settings.mic);
  const s = settings.server || {};
  if (s.serverUrl) {
    document.querySelector('input[name="server-mode"][value="remote"]').checked = true;
    $("set-url").value = s.serverUrl;
    $("set-appid").value = s.sdkAppId || "";
    $("set-signing").value = s.secret !== null && s.secret !== undefined ? "secret" : "usersig";
    $("set-sig").value = s.userSig || "";
  }
  syncRoleVisibility();
  showConnection(connection);
  $("room-id").focus();
}
start();
