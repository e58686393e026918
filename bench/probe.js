// Outside instrumentation for the browser benchmarks (a Playwright init script): it wraps
// WebSocket, getUserMedia and RTCPeerConnection before any page script runs and records the
// first time (epoch ms) of each step in window.__probe.marks, so the pages need no change to
// be measured. The first decoded remote video frame ("frame") is read with
// MediaStreamTrackProcessor on a clone of the remote track.
(() => {
  if (window.__probe) return;
  const P = (window.__probe = { marks: {} });
  const waiters = new Set();
  const mark = (name) => {
    if (name in P.marks) return;
    P.marks[name] = performance.timeOrigin + performance.now();
    for (const w of waiters) w();
  };

  // A promise for the moment all these marks exist (rejected after timeoutMs): the bench
  // waits on it instead of polling, which would make the page draw a frame at 60 Hz.
  P.when = (names, timeoutMs) => new Promise((resolve, reject) => {
    const check = () => {
      if (!names.every((n) => n in P.marks)) return;
      waiters.delete(check);
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`no ${names.filter((n) => !(n in P.marks)).join(", ")} in ${timeoutMs} ms`));
    }, timeoutMs);
    waiters.add(check);
    check();
  });

  // Frames: "joined" received; the first offer sent ("offer.sent"), whatever the signal's shape.
  const onFrame = (text, sent) => {
    try {
      const m = JSON.parse(text);
      if (!sent && m.type === "joined") mark("joined");
      if (sent && m.action === "signal" && /"type":"offer"/.test(JSON.stringify(m.data))) mark("offer.sent");
    } catch {} // never in the page's way
  };
  window.WebSocket = class extends window.WebSocket {
    constructor(...args) {
      super(...args);
      mark("ws.create");
      this.addEventListener("open", () => mark("ws.open"));
      this.addEventListener("message", (e) => onFrame(e.data, false));
    }
    send(data) {
      onFrame(data, true);
      return super.send(data);
    }
  };

  const getUserMedia = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = async function (...args) {
    const stream = await getUserMedia.apply(this, args);
    mark("gum.end");
    return stream;
  };

  window.RTCPeerConnection = class extends window.RTCPeerConnection {
    constructor(...args) {
      super(...args);
      this.addEventListener("iceconnectionstatechange", () => mark(`ice.${this.iceConnectionState}`));
      this.addEventListener("track", ({ track }) => {
        if (track.kind !== "video" || P.watching) return;
        P.watching = true;
        const reader = new MediaStreamTrackProcessor({ track: track.clone() }).readable.getReader();
        reader.read().then(({ value }) => { mark("frame"); value?.close(); reader.cancel(); });
      });
    }
    async setRemoteDescription(...args) {
      await super.setRemoteDescription(...args);
      if (this.remoteDescription) mark(`srd.${this.remoteDescription.type}`);
    }
  };

  P.collect = () => {
    const nav = performance.getEntriesByType("navigation")[0];
    return { timeOrigin: performance.timeOrigin, domContentLoaded: performance.timeOrigin + nav.domContentLoadedEventEnd, marks: P.marks };
  };
})();
