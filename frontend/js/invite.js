// Room codes, invite links and session tokens: random, URL-safe, validated.
//
// Usage:
//   const code = newRoomCode();                 // 96 random bits, 16 URL-safe characters
//   location.assign(roomUrl(code));             // room.html?room=CODE, the invite link
//   const {room, error} = roomFromInput(text);  // a code or a whole invite link
// No DOM, no network; only the protocol's patterns.

import { isRoomCode, isSessionToken } from './protocol.js';

const ROOM_CODE_BYTES = 12; // 96 bits
const SESSION_BYTES = 16; // 128 bits
const ROOM_PAGE = 'room.html';

export function randomToken(bytes) {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  let binary = '';
  for (const byte of buffer) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function newRoomCode() {
  return randomToken(ROOM_CODE_BYTES);
}

export function roomUrl(room, base = location.href) {
  const url = new URL(ROOM_PAGE, base);
  url.search = new URLSearchParams({ room }).toString();
  return url.href;
}

// The room of this page's URL: {room} when valid, {error} otherwise (nothing is sent then).
export function roomFromLocation(href = location.href) {
  const raw = new URL(href).searchParams.get('room');
  if (raw === null || raw === '') return { error: 'This link has no room code.' };
  if (!isRoomCode(raw)) return { error: 'This link’s room code is not valid.' };
  return { room: raw };
}

// What a person pasted into "Join": a bare room code or a whole invite link.
export function roomFromInput(text) {
  const value = String(text ?? '').trim();
  if (!value) return { error: 'Enter a room code or paste an invite link.' };
  if (isRoomCode(value)) return { room: value };
  let url;
  try {
    url = new URL(value);
  } catch {
    return {
      error: 'That is not a room code. Codes use only letters, digits, - and _ (up to 64).',
    };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { error: 'That link is not an invite link.' };
  }
  const room = url.searchParams.get('room');
  if (room === null) return { error: 'That link has no room code in it.' };
  if (!isRoomCode(room)) return { error: 'The room code in that link is not valid.' };
  return { room };
}

// This tab's private token for one room (sessionStorage: survives a reload, never shown).
// A duplicated tab copies sessionStorage: the "in use" mark, cleared on pagehide
// (releaseSession), tells a reload (mark gone) from a copy of a live tab (mark still there),
// which takes a new token instead of stealing the other tab's place.
export function sessionToken(room, storage = sessionStorage) {
  const key = `p2pchat.session.${room}`;
  const inUse = `p2pchat.live.${room}`;
  let token = null;
  try {
    token = storage.getItem(inUse) ? null : storage.getItem(key);
    storage.setItem(inUse, '1');
  } catch {
    /* storage disabled: a fresh token per page, resume then needs the same page */
  }
  if (!isSessionToken(token)) {
    token = randomToken(SESSION_BYTES);
    try {
      storage.setItem(key, token);
    } catch {
      /* see above */
    }
  }
  return token;
}

export function releaseSession(room, storage = sessionStorage) {
  try {
    storage.removeItem(`p2pchat.live.${room}`);
  } catch {
    /* nothing stored */
  }
}

export function forgetSession(room, storage = sessionStorage) {
  releaseSession(room, storage);
  try {
    storage.removeItem(`p2pchat.session.${room}`);
  } catch {
    /* nothing stored */
  }
}
