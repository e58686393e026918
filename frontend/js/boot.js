// The room page's first steps, started before the rest of the page has loaded: its settings
// (config.json), the camera and microphone, and the signaling socket. room.html loads this
// module on its own, `async`, so it runs as soon as its few imports arrive, while the page is
// still being parsed and laid out; room.js, the composition root, takes over what it started.
// No DOM.
//
// Usage (room.js):
//   import { boot } from './boot.js';
//   if (boot.error) ...;                                  // the link's room code is not valid
//   boot.media.then(...);                                  // LocalMedia (never rejects)
//   boot.signaling.then(({ sig, iceTransportPolicy, error }) => ...);

import { roomFromLocation } from './invite.js';
import { openLocalMedia } from './media.js';
import { SignalingClient } from './signaling.js';

// config.json, validated: {signalingUrl, iceTransportPolicy} or {error}. The page preloads
// it (same request mode, so this fetch is answered by the preload).
async function loadConfig() {
  try {
    const response = await fetch('config.json');
    if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
    const config = await response.json();
    const signalingUrl = String(config?.signalingUrl ?? '');
    if (!/^wss?:\/\//.test(signalingUrl)) {
      throw new Error('config.json: signalingUrl must be ws(s)://');
    }
    const iceTransportPolicy = config.iceTransportPolicy === 'relay' ? 'relay' : 'all';
    return { signalingUrl, iceTransportPolicy };
  } catch (error) {
    return { error };
  }
}

// Nothing starts for a link without a valid room code: no camera light, no socket.
function start() {
  const { room, error } = roomFromLocation();
  if (error) return { error };
  const media = openLocalMedia();
  const signaling = loadConfig().then((config) => {
    if (config.error) return config;
    const sig = new SignalingClient(config.signalingUrl);
    sig.connect();
    return { sig, iceTransportPolicy: config.iceTransportPolicy };
  });
  return { room, media, signaling };
}

export const boot = start();
