// The signaling socket: connect, keep alive, reconnect with backoff, send, events.
// No RTC, no DOM.
//
// Usage:
//   const sig = new SignalingClient(url);
//   sig.addEventListener('open', () => sig.send(join(...)));   // every (re)connection
//   sig.addEventListener('message', (e) => handle(e.detail));  // parsed server frames
//   sig.addEventListener('down', (e) => show(e.detail.retryInMs));
//   const fresh = await sig.requestIceServers();               // {iceServers, iceServersTtl}
//   sig.connect();  ...  sig.close();                          // close() is final
//
// A socket that does not open in time, or that stays silent after a ping, is treated as
// dead and replaced. Reconnect delays grow exponentially with "equal jitter" (half fixed,
// half random) so a room full of tabs does not reconnect in lockstep.

import { getIceServers, MessageType, ping } from './protocol.js';

// Until the server says how often (`joined`'s keepaliveSeconds): API Gateway closes idle
// sockets at 10 min.
export const PING_INTERVAL_MS = 4 * 60 * 1000;
const PONG_TIMEOUT_MS = 15 * 1000;
const OPEN_TIMEOUT_MS = 10 * 1000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15 * 1000;
export const ICE_SERVERS_TIMEOUT_MS = 5 * 1000;

export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class SignalingClient extends EventTarget {
  constructor(url, { pingIntervalMs = PING_INTERVAL_MS } = {}) {
    super();
    this.url = url;
    this.pingIntervalMs = pingIntervalMs;
    this.ws = null;
    this.failures = 0; // consecutive connections that never became useful
    this.closed = false;
    this.connections = 0;
    this._timers = new Set();
    this._pingTimer = null;
    this._pongTimer = null;
    this._iceRequest = null;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    if (this.closed || this.ws) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this._scheduleReconnect(error);
      return;
    }
    this.ws = ws;
    const openTimer = this._after(OPEN_TIMEOUT_MS, () => ws.close());
    ws.addEventListener('open', () => {
      this._clear(openTimer);
      this.connections += 1;
      this._startKeepalive();
      this._emit('open', { reconnect: this.connections > 1 });
    });
    ws.addEventListener('message', (event) => {
      if (this.ws !== ws) return; // a socket let go by reconnectNow
      this._heard();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not ours to crash on
      }
      if (message && typeof message === 'object' && typeof message.type === 'string') {
        this._emit('message', message);
      }
    });
    ws.addEventListener('close', (event) => {
      this._clear(openTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      this._stopKeepalive();
      if (!this.closed) this._scheduleReconnect(event);
    });
    // 'error' is always followed by 'close'.
  }

  // How often to ping from now on (the server asks members to show they are alive: one
  // silent for long loses its place to a newcomer).
  setKeepalive(ms) {
    if (!Number.isFinite(ms) || ms < 1000 || ms === this.pingIntervalMs) return;
    this.pingIntervalMs = ms;
    if (this._pingTimer !== null) this._startKeepalive();
  }

  // The server answered something meaningful (e.g. joined): the backoff starts over.
  markHealthy() {
    this.failures = 0;
  }

  send(message) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  // Fresh ICE servers (`ice-servers`, for members): the answer, or null when the socket is
  // down, the socket closes or no answer comes within timeoutMs. One request at a time: a
  // second caller gets the same answer.
  requestIceServers(timeoutMs = ICE_SERVERS_TIMEOUT_MS) {
    if (this._iceRequest) return this._iceRequest;
    if (!this.send(getIceServers())) return Promise.resolve(null);
    this._iceRequest = new Promise((resolve) => {
      const done = (answer) => {
        this._clear(timer);
        this.removeEventListener('message', onMessage);
        this.removeEventListener('closed', onClosed);
        this._iceRequest = null;
        resolve(answer);
      };
      const onMessage = (event) => {
        if (event.detail.type === MessageType.ICE_SERVERS) done(event.detail);
      };
      const onClosed = () => done(null);
      const timer = this._after(timeoutMs, () => done(null));
      this.addEventListener('message', onMessage);
      this.addEventListener('closed', onClosed);
    });
    return this._iceRequest;
  }

  // Drop this socket now and reconnect (a silent socket, "the server forgot us", tests). The
  // socket is let go at once: on a dead uplink its closing handshake never completes, and
  // the browser would report the close only after about a minute.
  reconnectNow() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this._stopKeepalive();
    try {
      ws.close(4000, 'reconnect');
    } catch {
      /* already closing */
    }
    if (!this.closed) this._scheduleReconnect({ code: 4000 });
  }

  close() {
    this.closed = true;
    this._stopKeepalive();
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000, 'bye');
      } catch {
        /* already closing */
      }
    }
    this._emit('closed', {});
  }

  _scheduleReconnect(reason) {
    const retryInMs = backoffDelay(this.failures);
    this.failures += 1;
    this._emit('down', { retryInMs, attempt: this.failures, code: reason?.code ?? null });
    this._after(retryInMs, () => this.connect());
  }

  _startKeepalive() {
    this._stopKeepalive();
    this._pingTimer = setInterval(() => {
      if (!this.send(ping())) return;
      if (this._pongTimer === null) {
        this._pongTimer = this._after(PONG_TIMEOUT_MS, () => {
          this._pongTimer = null;
          this.reconnectNow(); // silent socket: half-open, replace it
        });
      }
    }, this.pingIntervalMs);
  }

  _stopKeepalive() {
    if (this._pingTimer !== null) clearInterval(this._pingTimer);
    this._pingTimer = null;
    this._heard();
  }

  _heard() {
    if (this._pongTimer !== null) this._clear(this._pongTimer);
    this._pongTimer = null;
  }

  _after(ms, fn) {
    const timer = setTimeout(() => {
      this._timers.delete(timer);
      fn();
    }, ms);
    this._timers.add(timer);
    return timer;
  }

  _clear(timer) {
    clearTimeout(timer);
    this._timers.delete(timer);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
