// Signaling protocol v1, as the browser speaks it.
//
// Mirrors lambdas/p2pchat/protocol.py (names, limits and error codes); the test
// tests/unit/test_protocol_js_drift.py fails when the two disagree. Imports nothing.
//
// Usage:
//   import { Action, MessageType, ErrorCode, join, cleanName } from './protocol.js';
//   socket.send(JSON.stringify(join(room, name, session)));

export const PROTOCOL_VERSION = 1;

export const DEFAULT_MAX_PEERS = 2;
export const MAX_PEERS_LIMIT = 8;
export const MAX_SIGNAL_BYTES = 16 * 1024;
export const MAX_DATA_DEPTH = 32;
export const MAX_NAME_CHARS = 40;
export const ROOM_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
export const SESSION_PATTERN = '^[A-Za-z0-9_-]{22,64}$';
export const PEER_ID_PATTERN = '^[A-Za-z0-9_-]{16,64}$';

// Client to server, discriminated on `action`.
export const Action = Object.freeze({
  JOIN: 'join',
  SIGNAL: 'signal',
  LEAVE: 'leave',
  PING: 'ping',
  ICE_SERVERS: 'ice-servers',
});

// Server to client, discriminated on `type`.
export const MessageType = Object.freeze({
  JOINED: 'joined',
  ICE_SERVERS: 'ice-servers',
  PEER_JOINED: 'peer-joined',
  SIGNAL: 'signal',
  PEER_LEFT: 'peer-left',
  PONG: 'pong',
  ERROR: 'error',
});

export const ErrorCode = Object.freeze({
  BAD_REQUEST: 'bad-request',
  UNKNOWN_ACTION: 'unknown-action',
  ROOM_FULL: 'room-full',
  NOT_IN_ROOM: 'not-in-room',
  UNKNOWN_PEER: 'unknown-peer',
  RATE_LIMITED: 'rate-limited',
  INTERNAL: 'internal',
});

const ROOM_RE = new RegExp(ROOM_PATTERN);
const SESSION_RE = new RegExp(SESSION_PATTERN);
const PEER_ID_RE = new RegExp(PEER_ID_PATTERN);
// The server refuses these Unicode categories in names (REFUSED_NAME_CATEGORIES), except
// the zero-width joiner that emoji sequences need.
const REFUSED_NAME_CHAR = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u;
const ZWJ = '\u200d';
// What Python's str.strip() removes (JavaScript's trim() differs: it strips U+FEFF and
// keeps U+001C..U+001F and U+0085), so both sides agree on every name.
const EDGE_SPACE =
  /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

export function isRoomCode(value) {
  return typeof value === 'string' && ROOM_RE.test(value);
}

export function isSessionToken(value) {
  return typeof value === 'string' && SESSION_RE.test(value);
}

export function isPeerId(value) {
  return typeof value === 'string' && PEER_ID_RE.test(value);
}

// Returns {name} (trimmed, NFC) or {error} with a sentence a person can act on.
export function cleanName(value) {
  const name = String(value ?? '').replace(EDGE_SPACE, '').normalize('NFC');
  const length = [...name].length; // code points, as the server counts
  if (length === 0) return { error: 'Enter your name.' };
  if (length > MAX_NAME_CHARS) return { error: `Use at most ${MAX_NAME_CHARS} characters.` };
  for (const char of name) {
    if (char !== ZWJ && REFUSED_NAME_CHAR.test(char)) {
      return { error: 'Remove the invisible or control characters from your name.' };
    }
  }
  return { name };
}

export function signalSize(data) {
  return new TextEncoder().encode(JSON.stringify(data)).length;
}

export function join(room, name, session) {
  const message = { action: Action.JOIN, room, name };
  if (session) message.session = session;
  return message;
}

export function signal(to, data) {
  return { action: Action.SIGNAL, to, data };
}

export function leave() {
  return { action: Action.LEAVE };
}

export function ping() {
  return { action: Action.PING };
}

// Fresh ICE servers (answered `ice-servers`): before an ICE restart, or before the TURN
// credentials of the last ones expire (`iceServersTtl`).
export function getIceServers() {
  return { action: Action.ICE_SERVERS };
}
