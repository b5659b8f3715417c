// Video tiles, the screen stage and the media controls. Pictures arrive through the binary
// frame path: each visible view has a loopback WebSocket on which it pulls the next picture
// (raw RGBA at the size it is shown, scaled in Rust) and draws it with putImageData. Control
// state follows SDK events: a click asks (the control shows aria-busy while it is pending),
// onCameraDidReady / onMicDidReady / onScreenCaptureStarted press it, an error releases it.
"use strict";

const Media = (() => {
  const { invoke } = window.__TAURI__.core;
  const $ = (id) => document.getElementById(id);
  const HEADER = 16; // width, height (u32 LE), picture number (u64 LE)
  let endpoint = null; // { base, token }: where pictures are fetched
  const endpointReady = invoke("video_endpoint").then((e) => (endpoint = e));
  const SCREEN_FAILED = "Failed to initiate screen recording";
  const errorText = (err) => (err && err.message) || String(err);

  // TRTC's TRTCQuality, 0–6.
  const QUALITY_NAMES = ["unknown", "excellent", "good", "poor", "bad", "very bad", "down"];

  // ---------- a tile: a canvas fed by one view, or a placeholder ----------
  class Tile {
    constructor(testid, label, color, initials) {
      this.el = document.createElement("div");
      this.el.className = "tile";
      this.el.setAttribute("data-testid", testid);
      this.canvas = document.createElement("canvas");
      this.canvas.hidden = true;
      this.ctx = this.canvas.getContext("2d");
      this.avatar = document.createElement("div");
      this.avatar.className = "avatar";
      this.avatar.style.background = color;
      this.avatar.textContent = initials;
      this.name = document.createElement("span");
      this.name.className = "name";
      this.mic = document.createElement("span");
      this.mic.className = "mic";
      this.mic.setAttribute("aria-label", "microphone off");
      this.mic.dataset.on = "false";
      this.stats = document.createElement("div");
      this.stats.className = "stats";
      this.stats.hidden = !controls.statsShown;
      // Signal bars: onNetworkQuality's 0–6 for this tile's user (also in data-quality).
      this.bars = document.createElement("span");
      this.bars.className = "bars";
      for (let i = 0; i < 4; i++) this.bars.append(document.createElement("i"));
      this.setQuality(0);
      const nameRow = document.createElement("div");
      nameRow.className = "label";
      nameRow.append(this.mic, this.name, this.bars);
      this.name.textContent = label;
      this.el.append(this.canvas, this.avatar, nameRow, this.stats);
      this.view = null;
      this.socket = null;
      this.seq = 0;
      this.generation = 0;
      this.drawn = 0;
      this.drawMs = 0;
    }

    setQuality(quality) {
      this.el.dataset.quality = String(quality);
      this.bars.dataset.quality = String(quality);
      this.bars.setAttribute("aria-label", `network: ${QUALITY_NAMES[quality] || "unknown"}`);
      this.bars.title = this.bars.getAttribute("aria-label");
    }

    setMic(on) {
      this.mic.dataset.on = on ? "true" : "false";
      this.mic.setAttribute("aria-label", on ? "microphone on" : "microphone off");
    }

    // Shows `view` once `opened` (the command that creates it) has finished.
    show(view, opened) {
      if (this.view === view) return;
      this.hide();
      this.view = view;
      const generation = this.generation;
      Promise.all([opened, endpointReady]).then(() => {
        if (this.generation === generation) this.connect(generation);
      });
    }

    hide() {
      this.view = null;
      this.generation++;
      if (this.socket) this.socket.close();
      this.socket = null;
      this.canvas.hidden = true;
      this.avatar.hidden = false;
    }

    connect(generation) {
      const ws = new WebSocket(`${endpoint.base}/${endpoint.token}/${encodeURIComponent(this.view)}`);
      ws.binaryType = "arraybuffer";
      const pull = () => {
        const box = this.el.getBoundingClientRect();
        const dpr = window.devicePixelRatio || 1;
        ws.send(JSON.stringify({
          after: this.seq,
          maxWidth: Math.round(box.width * dpr) || 640,
          maxHeight: Math.round(box.height * dpr) || 360,
        }));
      };
      ws.onopen = pull;
      ws.onmessage = (m) => {
        if (this.generation !== generation) return;
        if (m.data.byteLength > HEADER) this.draw(m.data);
        pull();
      };
      this.socket = ws;
    }

    draw(buf) {
      const started = performance.now();
      const head = new DataView(buf, 0, HEADER);
      const w = head.getUint32(0, true);
      const h = head.getUint32(4, true);
      this.seq = Number(head.getBigUint64(8, true));
      if (buf.byteLength < HEADER + w * h * 4) return;
      if (this.canvas.width !== w || this.canvas.height !== h) {
        this.canvas.width = w;
        this.canvas.height = h;
      }
      this.ctx.putImageData(new ImageData(new Uint8ClampedArray(buf, HEADER, w * h * 4), w, h), 0, 0);
      this.canvas.hidden = false;
      this.avatar.hidden = true;
      this.drawn++;
      this.drawMs += performance.now() - started;
      this.canvas.dataset.frames = String(this.drawn);
    }

    setStats(text) {
      const draw = this.drawn ? ` · draw ${(this.drawMs / this.drawn).toFixed(1)} ms` : "";
      this.stats.textContent = text ? text + draw : "";
    }
  }

  // ---------- state ----------
  const controls = {
    statsShown: false,
    camera: false, // the camera is (being) opened
    mic: false,
    sharing: false, // our own screen share is running
    cameraBeforeShare: false,
  };
  let room = null; // { self, selfColor, tiles: Map<userId, Tile>, selfTile, stageUser }
  let stageTile = null;

  function setPressed(id, on) {
    $(id).setAttribute("aria-pressed", on ? "true" : "false");
    $(id).removeAttribute("aria-busy");
  }
  // Asked for, not yet confirmed by the SDK.
  function setPending(id) {
    $(id).setAttribute("aria-pressed", "false");
    $(id).setAttribute("aria-busy", "true");
  }

  // ---------- the camera and the microphone ----------
  // `controls.camera` / `controls.mic` say what the user asked for; the buttons show what the
  // SDK confirmed.
  function startCamera() {
    controls.camera = true;
    setPending("camera-toggle");
    room.selfTile.show("local", invoke("start_local_preview"));
  }
  function stopCamera() {
    controls.camera = false;
    setPressed("camera-toggle", false);
    room.selfTile.hide();
    invoke("stop_local_preview");
  }
  function startMic() {
    controls.mic = true;
    setPending("mic-toggle");
    invoke("start_local_audio");
  }
  function stopMic() {
    controls.mic = false;
    setPressed("mic-toggle", false);
    room.selfTile.setMic(false);
    invoke("stop_local_audio");
  }

  $("camera-toggle").addEventListener("click", () => (controls.camera ? stopCamera() : startCamera()));
  $("mic-toggle").addEventListener("click", () => (controls.mic ? stopMic() : startMic()));

  // ---------- screen sharing ----------
  function closePicker() {
    App.closeDialog("screen-picker");
  }
  // The picker opens at once; the sources (an X connection away, off the UI thread) fill in.
  let pickerGeneration = 0;
  async function openPicker() {
    const generation = ++pickerGeneration;
    const list = $("screen-sources");
    list.dataset.loading = "true";
    list.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "Looking for screens…" }));
    App.openDialog("screen-picker", closePicker);
    let sources;
    try {
      sources = await invoke("get_screen_capture_sources");
    } catch (err) {
      if (generation !== pickerGeneration) return;
      closePicker();
      App.toast(SCREEN_FAILED, errorText(err));
      return;
    }
    if (generation !== pickerGeneration || $("screen-picker").hidden) return;
    delete list.dataset.loading;
    list.replaceChildren(
      ...sources.map((s, n) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "source";
        b.setAttribute("data-testid", `screen-source-${n}`);
        b.textContent = s.sourceName + (s.isMainScreen ? " · main" : "");
        b.addEventListener("click", () => {
          closePicker();
          startShare(s.sourceId);
        });
        return b;
      }),
    );
  }
  $("screen-cancel").addEventListener("click", closePicker);

  function startShare(sourceId) {
    // Sharing takes the camera's place, as in TRTC's demo: it comes back when sharing ends.
    controls.cameraBeforeShare = controls.camera;
    if (controls.camera) stopCamera();
    controls.sharing = true;
    setPending("share-screen");
    invoke("start_screen_capture", { sourceId });
  }
  function shareEnded() {
    if (!controls.sharing) return;
    controls.sharing = false;
    setPressed("share-screen", false);
    if (room && room.stageUser === room.self) setStage(null);
    if (controls.cameraBeforeShare && room) startCamera();
    controls.cameraBeforeShare = false;
  }
  $("share-screen").addEventListener("click", () => (controls.sharing ? invoke("stop_screen_capture") : openPicker()));
  $("stage-stop").addEventListener("click", () => invoke("stop_screen_capture"));

  // ---------- the stage: one screen share at a time ----------
  function setStage(userId) {
    const stage = $("screen-stage");
    if (room.stageUser && room.stageUser !== room.self && room.stageUser !== userId) {
      invoke("stop_remote_view", { userId: room.stageUser, streamType: 2 });
    }
    if (stageTile) stageTile.hide();
    room.stageUser = userId;
    stage.hidden = userId === null;
    $("room-screen").classList.toggle("sharing", userId !== null);
    $("stage-stop").hidden = userId !== room.self;
    $("stage-video").hidden = userId === room.self;
    if (userId === null) return;
    $("stage-label").textContent = userId === room.self ? "You are sharing your screen" : `${userId} is sharing a screen`;
    if (userId !== room.self) {
      stageTile.show(`${userId}:2`, invoke("start_remote_view", { userId, streamType: 2 }));
    }
  }

  // ---------- the grid ----------
  function addTile(userId) {
    if (room.tiles.has(userId)) return;
    const tile = new Tile(`video-tile-${userId}`, userId, App.colorFor(userId), App.initials(userId));
    room.tiles.set(userId, tile);
    $("video-grid").append(tile.el);
  }
  function removeTile(userId) {
    const tile = room.tiles.get(userId);
    if (!tile) return;
    tile.hide();
    tile.el.remove();
    room.tiles.delete(userId);
    if (room.stageUser === userId) setStage(null);
  }

  function stats(s) {
    const kbps = (s.videoBitrate || 0) + (s.audioBitrate || 0);
    const parts = [];
    if (s.width) parts.push(`${s.width}x${s.height}`, `${s.frameRate} fps`);
    parts.push(`${kbps} kbps`);
    if (s.videoPacketLoss !== undefined) parts.push(`loss ${s.videoPacketLoss}%`);
    if (s.point2PointDelay !== undefined) parts.push(`delay ${s.point2PointDelay} ms`);
    return parts.join(" · ");
  }

  // ---------- entering and leaving ----------
  function enter(self, scene, role, camera, mic) {
    leave();
    room = { self, tiles: new Map(), stageUser: null, selfTile: null };
    room.selfTile = new Tile("video-tile-self", `${self} (me)`, App.colorFor(self), App.initials(self));
    $("video-grid").replaceChildren(room.selfTile.el);
    stageTile = stageTile || new Tile("screen-stage-video", "", "#000", "");
    $("stage-video").replaceChildren(stageTile.el);
    setStage(null);
    const publishes = !(App.LIVE_SCENES.has(scene) && role === "audience");
    const video = scene === "videocall" || scene === "live";
    $("camera-toggle").hidden = !video;
    $("share-screen").hidden = !video;
    for (const id of ["camera-toggle", "mic-toggle", "share-screen"]) {
      setPressed(id, false);
      $(id).disabled = !publishes;
    }
    if (publishes && video && camera) startCamera();
    if (publishes && mic) startMic();
  }

  function leave() {
    if (!room) return;
    for (const tile of room.tiles.values()) tile.hide();
    room.selfTile.hide();
    if (stageTile) stageTile.hide();
    Object.assign(controls, { camera: false, mic: false, sharing: false, cameraBeforeShare: false });
    room = null;
    closePicker();
  }

  // ---------- events ----------
  function onEvent(e) {
    if (!room) return false;
    switch (e.event) {
      case "onRemoteUserEnterRoom":
        addTile(e.userId);
        return false;
      case "onRemoteUserLeaveRoom":
        removeTile(e.userId);
        return false;
      case "onUserVideoAvailable": {
        const tile = room.tiles.get(e.userId) || (addTile(e.userId), room.tiles.get(e.userId));
        if (e.available) {
          tile.show(`${e.userId}:0`, invoke("start_remote_view", { userId: e.userId, streamType: 0 }));
        } else {
          tile.hide();
          invoke("stop_remote_view", { userId: e.userId, streamType: 0 });
        }
        return true;
      }
      case "onUserAudioAvailable": {
        const tile = room.tiles.get(e.userId);
        if (tile) tile.setMic(e.available);
        return true;
      }
      case "onUserSubStreamAvailable":
        if (e.available) setStage(e.userId);
        else if (room.stageUser === e.userId) setStage(null);
        return true;
      case "onScreenCaptureStarted":
        if (controls.sharing) setPressed("share-screen", true);
        setStage(room.self);
        return true;
      case "onCameraDidReady":
        if (controls.camera) setPressed("camera-toggle", true);
        return true;
      case "onMicDidReady":
        if (controls.mic) {
          setPressed("mic-toggle", true);
          room.selfTile.setMic(true);
        }
        return true;
      case "onScreenCaptureStopped":
        shareEnded();
        return true;
      case "onError":
        return onMediaError(e);
      case "onWarning":
        return onMediaWarning(e);
      case "onNetworkQuality":
        if (e.localQuality) room.selfTile.setQuality(e.localQuality.quality);
        for (const [userId, tile] of room.tiles) {
          const q = (e.remoteQuality || []).find((r) => r.userId === userId);
          tile.setQuality(q ? q.quality : 0);
        }
        return true;
      case "onStatistics":
        room.selfTile.setStats(
          (e.localStatisticsArray || []).filter((s) => s.streamType === 0).map(stats).join(""),
        );
        for (const [userId, tile] of room.tiles) {
          const s = (e.remoteStatisticsArray || []).find((r) => r.userId === userId && r.streamType === 0);
          tile.setStats(s ? stats(s) : "");
        }
        if (room.stageUser && room.stageUser !== room.self) {
          const s = (e.remoteStatisticsArray || []).find((r) => r.userId === room.stageUser && r.streamType === 2);
          stageTile.setStats(s ? stats(s) : "");
        }
        return true;
    }
    return false;
  }

  // Device and capture errors never end the meeting (contract §4): a toast, and the control
  // goes back to off. Returns true when handled here.
  function onMediaError(e) {
    switch (e.errCode) {
      case -1301: // camera failed to open
        if (controls.camera) stopCamera();
        App.toast(`Camera: ${e.errMsg} (${e.errCode})`);
        return true;
      case -1302: // microphone failed to open
        if (controls.mic) stopMic();
        App.toast(`Microphone: ${e.errMsg} (${e.errCode})`);
        return true;
      case -1308: // screen capture failed to start
        App.toast(SCREEN_FAILED, `${e.errMsg} (${e.errCode})`);
        shareEnded();
        return true;
      case -102016: // someone else is sharing
        App.toast(`Someone else is already sharing a screen (${e.errCode})`);
        shareEnded();
        return true;
    }
    return false;
  }
  function onMediaWarning(e) {
    if (e.warningCode === 1111 && controls.camera) stopCamera();
    if (e.warningCode === 1201 && controls.mic) stopMic();
    return false; // the generic warning toast still shows it
  }

  // ---------- statistics overlay and video settings ----------
  $("stats-toggle").addEventListener("click", () => {
    controls.statsShown = !controls.statsShown;
    setPressed("stats-toggle", controls.statsShown);
    for (const el of document.querySelectorAll(".tile .stats")) el.hidden = !controls.statsShown;
  });

  const DEVICE_PICKERS = ["camera-device", "mic-device", "speaker-device"];
  const pickerFor = (kind) => DEVICE_PICKERS.find((id) => Number($(id).dataset.kind) === kind);
  // Fills a picker from one DeviceList ({ kind, devices, error }).
  function showDevices(list) {
    const select = $(pickerFor(list.kind));
    const devices = list.devices || [];
    select.title = list.error || "";
    delete select.dataset.loading;
    select.replaceChildren(
      ...devices.map((d) => {
        const o = document.createElement("option");
        o.value = d.deviceId;
        o.textContent = d.deviceName + (d.isDefault ? " (default)" : "");
        o.selected = d.current;
        return o;
      }),
    );
    if (!devices.length) select.append(new Option("None found", ""));
    select.disabled = !devices.length;
  }
  // The dialog opens at once; its pickers fill when the (blocking, off-thread) enumeration of
  // all three device types comes back.
  async function fillDevicePickers() {
    for (const id of DEVICE_PICKERS) {
      $(id).dataset.loading = "true";
      $(id).replaceChildren(new Option("Looking for devices…", ""));
      $(id).disabled = true;
    }
    try {
      for (const list of await invoke("get_all_devices")) showDevices(list);
    } catch (err) {
      for (const id of DEVICE_PICKERS) showDevices({ kind: Number($(id).dataset.kind), devices: [], error: errorText(err) });
    }
  }
  for (const id of DEVICE_PICKERS) {
    $(id).addEventListener("change", async () => {
      const kind = Number($(id).dataset.kind);
      try {
        await invoke("set_current_device", { kind, deviceId: $(id).value });
      } catch (err) {
        App.toast(errorText(err));
        showDevices(await invoke("get_devices_list", { kind }));
      }
    });
  }

  $("video-settings-open").addEventListener("click", () => {
    $("video-settings-error").hidden = true;
    fillDevicePickers();
    App.openDialog("video-settings", () => App.closeDialog("video-settings"));
  });
  $("video-settings-cancel").addEventListener("click", () => App.closeDialog("video-settings"));
  $("video-settings-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const [width, height] = $("video-resolution").value.split("x").map(Number);
    const settings = { width, height, fps: Number($("video-fps").value), bitrate: Number($("video-bitrate").value) || 0 };
    try {
      await invoke("set_video_encoder_param", { settings });
      App.closeDialog("video-settings");
      App.toast("Video settings applied");
    } catch (err) {
      $("video-settings-error").textContent = errorText(err);
      $("video-settings-error").hidden = false;
    }
  });

  return { enter, leave, onEvent, endpointReady };
})();
