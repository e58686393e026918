// Outside instrumentation for the time-to-first-frame benchmark (a Playwright init script).
// It wraps WebSocket, getUserMedia and RTCPeerConnection before any page script runs and
// records the first time (epoch ms, performance.timeOrigin + now()) of each step in
// window.__probe.marks, so the product needs no change to be measured. The first decoded
// remote video frame is read with MediaStreamTrackProcessor on a clone of the remote track
// (mark "frame"); requestVideoFrameCallback on a hidden video element is a cross-check
// ("frame.rvfc").
(() => {
  if (window.__probe) return;
  const P = (window.__probe = { marks: {}, counts: {}, sent: [], received: [], pcConfig: null });
  const now = () => performance.timeOrigin + performance.now();
  const waiters = [];
  const mark = (name) => {
    if (name in P.marks) return;
    P.marks[name] = now();
    for (const w of [...waiters]) if (w.names.every((n) => n in P.marks)) w.done();
  };
  // A promise for the moment all these marks exist (rejected after timeoutMs): the bench
  // waits on it instead of polling, which would make the page draw a frame at 60 Hz.
  P.when = (names, timeoutMs) => new Promise((resolve, reject) => {
    const w = { names, done: () => { clearTimeout(timer); waiters.splice(waiters.indexOf(w), 1); resolve(true); } };
    const timer = setTimeout(() => {
      waiters.splice(waiters.indexOf(w), 1);
      reject(new Error(`no ${names.filter((n) => !(n in P.marks)).join(", ")} within ${timeoutMs} ms`));
    }, timeoutMs);
    waiters.push(w);
    if (names.every((n) => n in P.marks)) w.done();
  });
  const count = (name) => { P.counts[name] = (P.counts[name] || 0) + 1; };

  // Find an SDP description or an ICE candidate anywhere in a signal's data (any shape).
  function classify(data, depth = 0) {
    if (!data || typeof data !== "object" || depth > 4) return null;
    if ((data.type === "offer" || data.type === "answer") && typeof data.sdp === "string") {
      return data.type;
    }
    if ("candidate" in data && (typeof data.candidate === "string" || data.candidate === null)) {
      return "candidate";
    }
    for (const value of Object.values(data)) {
      const kind = classify(value, depth + 1);
      if (kind) return kind;
    }
    return null;
  }

  function onSend(text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    const action = m && m.action;
    P.sent.push([now(), action, text.length]);
    count(`sent.${action}`);
    if (action === "join") mark("join.sent");
    if (action === "signal") {
      const kind = classify(m.data);
      if (kind) { mark(`${kind}.sent`); count(`sent.signal.${kind}`); }
    }
  }

  function onReceive(text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    const type = m && m.type;
    P.received.push([now(), type, text.length]);
    count(`recv.${type}`);
    if (type === "joined") { mark("joined"); P.iceServers = m.iceServers; }
    if (type === "peer-joined") mark("peer-joined");
    if (type === "error") { mark("error"); P.lastError = m; }
    if (type === "signal") {
      const kind = classify(m.data);
      if (kind) { mark(`${kind}.recv`); count(`recv.signal.${kind}`); }
    }
  }

  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      mark("ws.create");
      count("ws.create");
      this.addEventListener("open", () => mark("ws.open"));
      this.addEventListener("close", () => count("ws.close"));
      this.addEventListener("message", (e) => { if (typeof e.data === "string") onReceive(e.data); });
    }
    send(data) {
      if (typeof data === "string") onSend(data);
      return super.send(data);
    }
  };

  if (window.MediaDevices && MediaDevices.prototype.getUserMedia) {
    const gum = MediaDevices.prototype.getUserMedia;
    MediaDevices.prototype.getUserMedia = async function (...args) {
      mark("gum.start");
      const stream = await gum.apply(this, args);
      mark("gum.end");
      return stream;
    };
  }

  function watchFirstFrame(track) {
    if (P.watching) return;
    P.watching = true;
    mark("track.video");
    if (window.MediaStreamTrackProcessor) {
      const reader = new MediaStreamTrackProcessor({ track: track.clone() }).readable.getReader();
      reader.read().then(({ value }) => {
        mark("frame");
        if (value) {
          P.frameSize = [value.displayWidth, value.displayHeight];
          value.close();
        }
        reader.cancel();
      });
    }
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.width = 2;
    video.height = 2;
    video.srcObject = new MediaStream([track]);
    const attach = () => (document.body || document.documentElement).appendChild(video);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", attach);
    else attach();
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => mark("frame.rvfc"));
    video.play().catch(() => {});
  }

  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(config, ...rest) {
      super(config, ...rest);
      mark("pc.create");
      count("pc.create");
      if (!P.pcConfig) {
        try { P.pcConfig = JSON.parse(JSON.stringify(config || {})); } catch { P.pcConfig = {}; }
      }
      this.addEventListener("iceconnectionstatechange", () => mark(`ice.${this.iceConnectionState}`));
      this.addEventListener("connectionstatechange", () => mark(`pc.${this.connectionState}`));
      this.addEventListener("icegatheringstatechange", () => mark(`gather.${this.iceGatheringState}`));
      this.addEventListener("icecandidate", (e) => { if (e.candidate) mark("candidate.local"); });
      this.addEventListener("track", (e) => { if (e.track.kind === "video") watchFirstFrame(e.track); });
    }
    async setLocalDescription(...args) {
      const result = await super.setLocalDescription(...args);
      if (this.localDescription) mark(`sld.${this.localDescription.type}`);
      return result;
    }
    async setRemoteDescription(...args) {
      const result = await super.setRemoteDescription(...args);
      if (this.remoteDescription) mark(`srd.${this.remoteDescription.type}`);
      return result;
    }
  };

  P.collect = () => {
    const nav = performance.getEntriesByType("navigation")[0];
    const t0 = performance.timeOrigin;
    return {
      timeOrigin: t0,
      responseEnd: nav ? t0 + nav.responseEnd : null,
      domContentLoaded: nav && nav.domContentLoadedEventEnd ? t0 + nav.domContentLoadedEventEnd : null,
      load: nav && nav.loadEventEnd ? t0 + nav.loadEventEnd : null,
      marks: P.marks,
      counts: P.counts,
      sent: P.sent,
      received: P.received,
      pcConfig: P.pcConfig,
      iceServers: P.iceServers || null,
      lastError: P.lastError || null,
      frameSize: P.frameSize || null,
      resources: performance.getEntriesByType("resource").map((r) => [
        r.name.replace(location.origin, ""), Math.round(r.startTime), Math.round(r.responseEnd),
      ]),
    };
  };
})();
