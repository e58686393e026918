// The signaling socket: connect, keep alive, reconnect with backoff, send, events.
// No RTC, no DOM.
//
// Usage:
//   const sig = new SignalingClient(url);
//   sig.addEventListener('open', () => sig.send(join(...)));   // every (re)connection
//   sig.addEventListener('message', (e) => handle(e.detail));  // parsed server frames
//   sig.addEventListener('down', (e) => show(e.detail.retryInMs));
//   sig.connect();  ...  sig.close();                          // close() is final
//
// A socket that does not open in time, or that stays silent after a ping, is treated as
// dead and replaced. Reconnect delays grow exponentially with "equal jitter" (half fixed,
// half random) so a room full of tabs does not reconnect in lockstep.

import { ping } from './protocol.js';

// Until the server says how often (`joined`'s keepaliveSeconds): API Gateway closes idle
// sockets at 10 min.
export const PING_INTERVAL_MS = 4 * 60 * 1000;
const PONG_TIMEOUT_MS = 15 * 1000;
const OPEN_TIMEOUT_MS = 10 * 1000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15 * 1000;

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

  // Drop this socket now and reconnect (for tests and for "the server forgot us").
  reconnectNow() {
    if (this.ws) this.ws.close(4000, 'reconnect');
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
