// The room's composition root: the only module that knows signaling, peers, media and UI.
//
// Who connects to whom: the newcomer (whoever receives `joined` with peers listed) creates
// one Peer per listed member and says hello; a member creates its Peer when that hello (or
// any first signal) arrives. Who is polite: the peer with the lexicographically smaller id.
// Peer-level messages, besides the Peer's own {hello, sdp, ice}:
//   {kind:'state', v, camera, mic}   this side's camera/microphone, newest v wins
// While a connection is being set up, that state rides on the Peer's next message instead
// (`media: {v, camera, mic}` on an sdp, ice or hello): every signal is an invocation, and three
// lone state messages used to queue beside the offer and the answer.
//   {kind:'bye'}                     leaving on purpose: drop the connection now
// See docs/frontend.md for the reconnect design.

import { cleanName, ErrorCode, join, leave, MessageType, ping, signal } from './protocol.js';
import { boot } from './boot.js';
import { forgetSession, releaseSession, roomUrl, sessionToken } from './invite.js';
import { Peer, SpareConnection } from './peer.js';
import { savedMedia, saveMedia, savedName, saveName } from './prefs.js';
import { RoomView } from './ui.js';
import { callObservations, checkSettled, CHECK_MS, diagnoseCall, judgeNetwork, pathWords,
  relayConfigured, selectedPath, stunConfigured } from './diagnosis.js';
import { connectionReport, gatherCandidates, statsOf, watchConnection } from './netcheck.js';

const OUTBOX_LIMIT = 500;
const SPARE_REFILL_MS = 3000; // a new spare connection once a call's set-up is over
const PEER_KINDS = new Set(['hello', 'sdp', 'ice']);
// A state waiting for a negotiation message goes on its own after this long (a peer that
// never negotiates still learns it) or once the connection is up, whichever is first.
const STATE_CARRY_MS = 2000;

// boot.js has already started the settings, the camera and the socket; this module is loaded
// `async` too, so the document may still be parsing when it runs.
if (document.readyState === 'loading') {
  await new Promise((resolve) => document.addEventListener('DOMContentLoaded', resolve, { once: true }));
}

const view = new RoomView(document);
const state = {
  room: null,
  name: null,
  me: null, // my peer id in this room (from `joined`)
  iceServers: [], // what new connections get: from `joined`, then `ice-servers`
  iceServersTtl: null, // seconds their TURN credentials last (null: nothing expires)
  iceRefreshAt: null, // when to ask for fresh ones (Date.now() ms)
  iceTransportPolicy: 'all', // from config.json: 'relay' hides our addresses from the others
  joined: false, // the current socket holds a membership
  everJoined: false,
  left: false,
  media: null,
  wanted: savedMedia(),
  members: new Set(), // ids the server says are in the room with me
  names: new Map(), // id -> display name
  peers: new Map(), // id -> Peer (one RTCPeerConnection per remote peer)
  away: new Set(), // ids the server lost while our media connection still runs
  held: new Map(), // id -> signals waiting for an away peer to come back
  remoteMedia: new Map(), // id -> {v, camera, mic}
  outbox: [], // signals waiting for a membership
  early: [], // signals received before `joined`
  stateVersion: 0,
  stateDue: new Map(), // id -> timer: our camera/microphone state, to go with the next signal
  rejoinPending: false,
};
let sig = null;
let spare = null; // a connection made ahead of need (peer.js), taken by the next Peer
let spareTimer = null;
const trace = []; // the last events, for debugging a call (window.p2pchat.trace)
function note(...items) {
  trace.push(`${Math.round(performance.now())} ${items.join(' ')}`);
  if (trace.length > 300) trace.shift();
}
let session = null; // this tab's secret for the room: kept out of the debug handle
const failureNotices = new WeakMap(); // Peer -> takes its "Press Retry" notice away

// ---- start ------------------------------------------------------------------------------
if (boot.error) {
  view.fatal('This room link does not work', `${boot.error} Check the link you were sent, or start a new room from the lobby.`);
} else {
  start(boot.room);
}

function start(room) {
  state.room = room;
  session = sessionToken(room);
  boot.media.then(onMedia);
  boot.signaling.then(({ sig: client, iceTransportPolicy, error }) => {
    if (error) {
      console.error(error);
      shutdown();
      view.fatal('P2PChat cannot start', 'The app could not load its settings. Check your connection and reload the page.');
      return;
    }
    state.iceTransportPolicy = iceTransportPolicy;
    listen(client);
  });
  view.setRoom(room);
  view.banner('Connecting…');
  const stored = cleanName(savedName());
  if (stored.name) {
    setName(stored.name);
  } else {
    view.askName(room, '');
  }
}

view.on('name', ({ name: raw }) => {
  const { name, error } = cleanName(raw);
  if (error) {
    view.gateError(error);
    return;
  }
  saveName(name);
  setName(name);
});

function setName(name) {
  state.name = name;
  view.closeGate();
  view.showCall();
  renderLocal();
  sendJoin();
}

// The socket boot.js opened: it may already be open (then its 'open' event has passed).
function listen(client) {
  sig = client;
  if (state.left) {
    sig.close();
    return;
  }
  sig.addEventListener('open', () => sendJoin());
  sig.addEventListener('message', (event) => onServerMessage(event.detail));
  sig.addEventListener('down', (event) => {
    state.joined = false;
    if (state.left) return;
    const seconds = Math.max(1, Math.round(event.detail.retryInMs / 1000));
    const call = state.peers.size ? ' Your call continues meanwhile.' : '';
    view.banner(`Lost the connection to the server. Reconnecting in ${seconds} s…${call}`, 'warn');
  });
  sendJoin();
}

function sendJoin() {
  if (!sig || !sig.isOpen || !state.name || state.left) return;
  sig.send(join(state.room, state.name, session));
}

// ---- server messages --------------------------------------------------------------------
function onServerMessage(message) {
  if (message.type === MessageType.SIGNAL && message.data?.kind === 'bye-ack') {
    onSignal(message.from, message.data); // still listening while leaving
    return;
  }
  if (state.left) return;
  const about =
    message.type === MessageType.SIGNAL
      ? `${message.from} ${message.data?.kind}`
      : JSON.stringify(message.peer ?? message.code ?? message.you ?? '');
  note('in', message.type, about);
  switch (message.type) {
    case MessageType.JOINED:
      onJoined(message);
      break;
    case MessageType.PEER_JOINED:
      onPeerJoined(message.peer, message.resumed);
      break;
    case MessageType.SIGNAL:
      if (state.joined) onSignal(message.from, message.data);
      else state.early.push(message);
      break;
    case MessageType.PEER_LEFT:
      state.members.delete(message.peer);
      peerGone(message.peer, { bye: false });
      break;
    case MessageType.ERROR:
      onError(message);
      break;
    case MessageType.ICE_SERVERS: // the answer to sig.requestIceServers(): refreshIce uses it
      break;
    default: // pong: any frame already counts as a sign of life
  }
}

function onJoined(message) {
  const reconnect = state.everJoined;
  state.joined = true;
  state.everJoined = true;
  state.rejoinPending = false;
  state.me = message.you;
  useIceServers(message);
  sig.setKeepalive(message.keepaliveSeconds * 1000);
  sig.markHealthy();
  view.banner(null);
  state.members = new Set(message.peers.map((peer) => peer.id));
  for (const { id, name } of message.peers) {
    state.names.set(id, name);
    view.setRemoteName(id, name);
  }
  // Whoever the server no longer lists left while we were away.
  for (const id of [...state.peers.keys()]) {
    if (!state.members.has(id)) peerGone(id, { bye: false });
  }
  for (const { id } of message.peers) {
    const peer = state.peers.get(id);
    if (peer) {
      peer.hello(); // still here (maybe under a new id of ours): the epoch tells them
    } else {
      createPeer(id).greet(); // our offer is already being made: no hello needed
    }
  }
  sendState();
  const queued = state.outbox.splice(0);
  for (const item of queued) relay(item.peer ? item.peer.remoteId : item.to, item.data, item.peer);
  for (const early of state.early.splice(0)) onSignal(early.from, early.data);
  if (reconnect) view.notify('Reconnected to the server');
  if (!state.members.size) checkNetwork(); // alone: what this network allows, while waiting
}

function onPeerJoined(peer, resumed) {
  const { id, name } = peer;
  state.members.add(id);
  state.names.set(id, name);
  view.setRemoteName(id, name);
  if (resumed || state.peers.has(id)) comeBack(id);
  sendState(id); // a reloaded page forgot our camera/microphone state
}

function onSignal(from, data) {
  if (!data || typeof data !== 'object') return;
  if (data.kind === 'bye-ack') {
    byeAcks.delete(from);
    if (byeAcks.size === 0) byeAcked();
    return;
  }
  if (data.kind === 'bye') {
    if (state.joined) sig.send(signal(from, { kind: 'bye-ack' }));
    // Only for the connection it was said on: a late bye must not end a newer one.
    const peer = state.peers.get(from);
    if (peer && peer.remoteEpoch && data.epoch && peer.remoteEpoch !== data.epoch) return;
    peerGone(from, { bye: true });
    return;
  }
  if (data.kind === 'state') {
    onRemoteMedia(from, data);
    return;
  }
  if (!PEER_KINDS.has(data.kind) || typeof data.epoch !== 'string') return;
  if (data.media && typeof data.media === 'object') onRemoteMedia(from, data.media);
  state.members.add(from);
  let peer = state.peers.get(from);
  if (!peer) {
    // A connection we already have, under the id the other side had before it lost the
    // server and joined again? Then it is the same call: keep it, under the new id.
    peer = [...state.peers.values()].find((p) => p.remoteEpoch === data.epoch);
    if (peer) rekey(peer, from);
    else if (data.to) {
      // Addressed to a connection of ours that no longer exists (we dropped it while the
      // server had lost them): start afresh; our hello (to: null) makes them start afresh too.
      createPeer(from).hello();
      comeBack(from);
      return;
    } else {
      // A newcomer. Its first message (usually its offer) goes in before the page changes.
      peer = createPeer(from, data.epoch, { answering: true, first: data });
      if (data.kind !== 'sdp') peer.hello(); // our answer will tell them our epoch
      view.notify(`${displayName(from)} joined`);
      comeBack(from);
      return;
    }
  }
  comeBack(from);
  const verdict = peer.classify(data);
  if (verdict !== 'accept') note('verdict', verdict, from, data.epoch, data.to);
  if (verdict === 'drop') return;
  if (verdict === 'reset') {
    // The other side started over (a reload): a fresh connection, same tile.
    peer.close();
    state.peers.delete(from);
    peer = createPeer(from, data.epoch, { answering: true });
    if (data.kind !== 'sdp') peer.hello();
  }
  peer.receive(data);
}

function onError({ code, message }) {
  if (code === ErrorCode.ROOM_FULL) {
    shutdown();
    view.fatal('This room is full', 'Two people are already in this call. Ask them for a new invite link, or start your own room.');
  } else if (code === ErrorCode.NOT_IN_ROOM) {
    // The server forgot this connection's membership: join again, once at a time.
    state.joined = false;
    if (!state.rejoinPending) {
      state.rejoinPending = true;
      sendJoin();
    }
  } else if (code === ErrorCode.BAD_REQUEST && !state.everJoined) {
    shutdown();
    view.fatal('Could not join this room', String(message || 'The server refused the request.'));
  } else {
    console.warn('signaling error', code, message); // unknown-peer: a peer-left follows
  }
}

// ---- peers ------------------------------------------------------------------------------
// `first`: a message from that peer to hand over before the page is updated, so that its
// processing (an offer's setRemoteDescription) overlaps with the page's work.
function createPeer(id, remoteEpoch = null, { answering = false, first = null } = {}) {
  note('create', id, remoteEpoch);
  const peer = new Peer({
    remoteId: id,
    polite: state.me < id,
    iceServers: state.iceServers,
    iceTransportPolicy: state.iceTransportPolicy,
    remoteEpoch,
    pc: takeSpare(),
    holdLocal: answering,
    send: (data) => relay(peer.remoteId, data, peer),
    log: (...items) => note('pc', id.slice(0, 4), ...items),
  });
  state.peers.set(id, peer);
  iceDue.set(peer, state.iceRefreshAt);
  watches.set(peer, watchConnection(peer.pc));
  // Negotiation first (it runs off this thread), the page after. A newcomer offers at once,
  // even while its camera is still opening (its tracks follow without renegotiation).
  if (state.media) peer.setLocalStream(state.media.stream);
  else if (!answering) peer.offerBeforeMedia();
  if (first) peer.receive(first);
  note('epoch', peer.epoch, 'polite', peer.polite);
  const current = () => state.peers.get(peer.remoteId) === peer;
  view.addRemote(id, state.names.get(id));
  view.setRemoteStatus(id, 'connecting');
  view.setRemoteDiagnosis(id, null); // a new connection: an old one's cause is past
  view.setRemoteMedia(id, state.remoteMedia.get(id) ?? { camera: true, mic: true });
  peer.addEventListener('track', (event) => {
    if (current()) view.setRemoteStream(peer.remoteId, event.detail.stream);
  });
  peer.addEventListener('connectionstate', (event) => {
    if (current()) onPeerConnection(peer, event.detail.state);
  });
  peer.addEventListener('failed', (event) => {
    if (!current() || state.away.has(peer.remoteId)) return;
    view.setRemoteStatus(peer.remoteId, 'failed');
    const why = event.detail.reason === 'timeout' ? 'could not be established' : 'was lost';
    dismissFailure(peer);
    failureNotices.set(peer, view.notify(`The connection to ${displayName(peer.remoteId)} ${why}. Press Retry.`));
    explainFailure(peer);
  });
  peer.addEventListener('error', (event) => {
    note('peer-error', String(event.detail.error));
    console.warn('peer', event.detail.error);
  });
  return peer;
}

// The spare connection, if there is one; a new one is made once this call is set up.
function takeSpare() {
  const pc = spare ? spare.take() : null;
  spare = null;
  clearTimeout(spareTimer);
  spareTimer = setTimeout(makeSpare, SPARE_REFILL_MS);
  return pc;
}

function makeSpare() {
  if (state.left || spare || !state.media) return;
  spare = new SpareConnection(state.media.stream);
}

function onPeerConnection(peer, connectionState) {
  const id = peer.remoteId;
  note('state', id, connectionState);
  if (state.away.has(id) && connectionState !== 'connected') {
    removePeer(id); // no server and no media: they are gone
    view.notify(`${displayName(id)} left`);
    return;
  }
  const status = {
    new: 'connecting',
    connecting: 'connecting',
    connected: 'connected',
    disconnected: 'reconnecting',
    failed: 'failed',
  }[connectionState];
  if (status) view.setRemoteStatus(id, status);
  if (connectionState !== 'connected') paths.delete(peer); // said again once back
  if (connectionState === 'connected') {
    dismissFailure(peer); // back by itself or by Retry: "Press Retry" is out of date
    connectedOnce.add(peer);
    showPath(peer);
    flushState(id);
  }
}

function dismissFailure(peer) {
  failureNotices.get(peer)?.();
  failureNotices.delete(peer);
}

function relay(to, data, peer = null) {
  if (state.left) return;
  if (PEER_KINDS.has(data.kind) && state.stateDue.has(to)) {
    dropDueState(to);
    data = { ...data, media: mediaState() };
  }
  if (state.away.has(to)) {
    if (!state.held.has(to)) state.held.set(to, []);
    state.held.get(to).push({ data, peer });
    return;
  }
  if (state.joined && sig.send(signal(to, data))) return;
  state.outbox.push({ to, data, peer });
  if (state.outbox.length > OUTBOX_LIMIT) state.outbox.shift();
}

function comeBack(id) {
  if (!state.away.delete(id)) return;
  const held = state.held.get(id) ?? [];
  state.held.delete(id);
  const peer = state.peers.get(id);
  if (peer) view.setRemoteStatus(id, peer.connectionState === 'connected' ? 'connected' : 'connecting');
  for (const item of held) relay(id, item.data, item.peer);
}

function rekey(peer, newId) {
  const oldId = peer.remoteId;
  note('rekey', oldId, newId);
  state.peers.delete(oldId);
  peer.remoteId = newId;
  state.peers.set(newId, peer);
  view.rekeyRemote(oldId, newId);
  if (!state.names.has(newId) && state.names.has(oldId)) state.names.set(newId, state.names.get(oldId));
  view.setRemoteName(newId, state.names.get(newId));
  const media = state.remoteMedia.get(newId) ?? state.remoteMedia.get(oldId);
  if (media) {
    state.remoteMedia.set(newId, media);
    view.setRemoteMedia(newId, media);
  }
  const held = state.held.get(oldId) ?? [];
  state.held.delete(oldId);
  if (state.away.delete(oldId)) state.away.add(newId);
  state.held.set(newId, held);
}

function peerGone(id, { bye }) {
  const peer = state.peers.get(id);
  note('gone', id, bye, peer?.connectionState);
  if (peer && !bye && peer.connectionState === 'connected') {
    // The server lost them, but our media still flows: keep the call and wait.
    state.away.add(id);
    view.setRemoteStatus(id, 'away');
    return;
  }
  if (!peer) return;
  removePeer(id);
  view.notify(`${displayName(id)} left. This room waits for someone to join.`);
}

function removePeer(id) {
  const peer = state.peers.get(id);
  if (peer) {
    peer.close();
    dismissFailure(peer);
  }
  state.peers.delete(id);
  state.away.delete(id);
  state.held.delete(id);
  state.remoteMedia.delete(id);
  dropDueState(id);
  view.removeRemote(id);
}

function displayName(id) {
  return state.names.get(id) ?? 'The other person';
}

view.on('retry', async ({ id }) => {
  const peer = state.peers.get(id);
  if (!peer) return;
  view.setRemoteStatus(id, 'connecting');
  view.setRemoteDiagnosis(id, null); // a new attempt
  if (state.iceServersTtl !== null) await refreshIce('retry'); // new allocations ahead
  if (peer.closed || state.peers.get(id) !== peer) return;
  if (peer.pc.signalingState === 'stable' && peer.pc.remoteDescription) {
    restartIce(peer, 'retry');
  } else {
    // Negotiation itself is stuck: start a fresh connection; the other side follows.
    peer.close();
    state.peers.delete(id);
    createPeer(id).hello();
  }
});

// ---- why a call connects the way it does: netcheck.js observes, diagnosis.js decides ------
const watches = new WeakMap(); // Peer -> its ICE errors (netcheck.watchConnection)
const paths = new WeakMap(); // Peer -> 'direct' | 'relayed', as last shown
const connectedOnce = new WeakSet(); // Peers whose connection has worked at some point
const PATH_REFRESH_MS = 5000; // ICE may move a call to another candidate pair
const SERVER_PROBE_MS = 3000; // a ping unanswered this long: the socket to the server is dead
let networkChecked = false;
let pathTimer = null;

// Run once, while alone in the room, with the ICE servers the call will use (the lobby has
// none: the function gives TURN credentials to members only). Blocks nothing.
async function checkNetwork() {
  if (networkChecked) return;
  networkChecked = true;
  view.setNetworkCheck('checking');
  const servers = state.iceServers;
  const result = await gatherCandidates(servers, { timeoutMs: CHECK_MS, until: checkSettled });
  const verdict = judgeNetwork({
    relayConfigured: relayConfigured(servers),
    stunConfigured: stunConfigured(servers),
    policy: state.iceTransportPolicy,
    ...result,
  });
  const seen = result.candidates.map((c) => `${c.type}/${c.relayProtocol ?? c.protocol}`);
  note('check', verdict.verdict, seen.join(','), result.errors.map((e) => e.code).join(','));
  if (state.left) return;
  view.setNetworkCheck(verdict);
  view.announce(`${verdict.title}. ${verdict.advice}`);
}

// A connection that failed or did not connect within CONNECT_TIMEOUT_MS (peer.js): the most
// likely cause, on its tile and to screen readers.
async function explainFailure(peer) {
  const [report, signalingUp] = await Promise.all([
    connectionReport(peer.pc, watches.get(peer)),
    serverAnswers(),
  ]);
  if (state.peers.get(peer.remoteId) !== peer || peer.closed || peer.connectionState === 'connected') {
    return;
  }
  const why = diagnoseCall(callObservations(report, {
    name: state.names.get(peer.remoteId) ?? null,
    signalingUp,
    wasConnected: connectedOnce.has(peer),
    relayConfigured: relayConfigured(peer.pc.getConfiguration().iceServers),
    policy: state.iceTransportPolicy,
  }));
  note('diagnosis', peer.remoteId, why.cause);
  if (view.setRemoteDiagnosis(peer.remoteId, why)) view.announce(`${why.title}. ${why.advice}`);
}

// Does the server still hear us? A socket can look open while nothing gets through (a network
// that dropped it silently): a ping must bring an answer. A dead one is replaced at once.
function serverAnswers() {
  if (!sig || !state.joined || !sig.isOpen) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok) => {
      clearTimeout(timer);
      sig.removeEventListener('message', heard);
      if (!ok) sig.reconnectNow();
      resolve(ok);
    };
    const heard = () => done(true);
    const timer = setTimeout(() => done(false), SERVER_PROBE_MS);
    sig.addEventListener('message', heard);
    sig.send(ping());
  });
}

// Direct or relayed, from the candidate pair the connection uses; announced when it changes.
async function showPath(peer) {
  pathTimer ??= setInterval(refreshPaths, PATH_REFRESH_MS);
  const selected = selectedPath(await statsOf(peer.pc));
  if (state.peers.get(peer.remoteId) !== peer || peer.connectionState !== 'connected') return;
  const words = pathWords(selected, state.names.get(peer.remoteId) ?? 'the other person');
  if (!words) return;
  view.setRemotePath(peer.remoteId, words);
  if (paths.get(peer) === words.path) return;
  paths.set(peer, words.path);
  note('path', peer.remoteId, `${selected.local}/${selected.remote}`, selected.relayProtocol ?? '');
  view.announce(words.announce);
}

function refreshPaths() {
  if (state.left) return;
  for (const peer of state.peers.values()) {
    if (peer.connectionState === 'connected') showPath(peer);
  }
}

// ---- ICE servers: TURN credentials expire (iceServersTtl); fresh ones come before ----------
// A TURN allocation keeps the credentials it was made with. coturn checks their expiry only
// when an allocation is made, so every ICE restart and every new connection needs fresh ones;
// a server that checks each refresh of an allocation too would drop a relayed call once they
// expire. So: fresh servers before a restart we start (Retry), and at 80 % of their lifetime
// (and at least ICE_REFRESH_MARGIN_S before it ends), given to every connection for its next
// gathering; a connection whose media goes through its own relay then restarts ICE, so that
// it is allocated anew with them. docs/frontend.md.
const ICE_REFRESH_SHARE = 0.8;
const ICE_REFRESH_MARGIN_S = 10;
const ICE_RETRY_MS = 5000; // no answer (the socket is down): ask again; a rejoin brings some too
const iceDue = new WeakMap(); // Peer -> when the credentials its allocations use need replacing
let iceTimer = null;

// Seconds from receiving credentials that last `ttl` until fresh ones are due: never less than
// half the lifetime, so that very short lifetimes cannot make the page ask in a loop.
function iceRefreshDelay(ttl) {
  return Math.max(ttl / 2, Math.min(ttl * ICE_REFRESH_SHARE, ttl - ICE_REFRESH_MARGIN_S));
}

// Servers from `joined` or `ice-servers`: new connections get them, existing ones use them
// from their next gathering on.
function useIceServers({ iceServers, iceServersTtl }) {
  state.iceServers = Array.isArray(iceServers) ? iceServers : [];
  state.iceServersTtl = Number.isFinite(iceServersTtl) && iceServersTtl > 0 ? iceServersTtl : null;
  state.iceRefreshAt =
    state.iceServersTtl === null ? null : Date.now() + iceRefreshDelay(state.iceServersTtl) * 1000;
  for (const peer of state.peers.values()) peer.setIceServers(state.iceServers);
  scheduleIceRefresh();
}

function scheduleIceRefresh() {
  clearTimeout(iceTimer);
  iceTimer = null;
  if (state.left) return;
  const due = [state.iceRefreshAt, ...[...state.peers.values()].map((peer) => iceDue.get(peer))];
  const first = Math.min(...due.filter(Number.isFinite));
  if (Number.isFinite(first)) iceTimer = setTimeout(() => refreshIce('expiry'), Math.max(0, first - Date.now()));
}

// Ask the server for fresh ICE servers and use them; connections relayed through allocations
// whose credentials are due restart ICE. Whether fresh servers came.
async function refreshIce(reason) {
  note('ice-servers', 'ask', reason);
  const fresh = state.joined && sig ? await sig.requestIceServers() : null;
  if (state.left) return false;
  if (!fresh) {
    note('ice-servers', 'no answer', reason);
    if (reason === 'expiry') {
      clearTimeout(iceTimer);
      iceTimer = setTimeout(() => refreshIce('expiry'), ICE_RETRY_MS);
    }
    return false;
  }
  const now = Date.now();
  const due = [...state.peers.values()].filter((peer) => iceDue.get(peer) <= now);
  useIceServers(fresh);
  for (const peer of due) iceDue.set(peer, state.iceRefreshAt);
  scheduleIceRefresh(); // before any await: from the new due times only
  for (const peer of due) {
    const selected = selectedPath(await statsOf(peer.pc));
    if (peer.closed || peer.connectionState !== 'connected') continue; // Retry restarts those
    if (selected?.local === 'relay') restartIce(peer, 'credentials');
  }
  return true;
}

// An ICE restart (new ICE credentials; new TURN allocations with the current servers).
function restartIce(peer, reason) {
  note('ice-restart', peer.remoteId, reason);
  iceDue.set(peer, state.iceRefreshAt);
  watches.get(peer)?.reset(); // the restart gathers afresh
  peer.restartIce();
}

// ---- local media ------------------------------------------------------------------------
function onMedia(media) {
  if (state.left) {
    media.stop();
    return;
  }
  state.media = media;
  media.setEnabled('video', state.wanted.camera);
  media.setEnabled('audio', state.wanted.mic);
  view.setLocalStream(media.stream);
  view.mediaProblem(media.problem);
  renderLocal();
  for (const peer of state.peers.values()) peer.setLocalStream(media.stream);
  if (!state.peers.size) makeSpare(); // else after this call's set-up (takeSpare)
  sendState();
}

function localState() {
  const media = state.media;
  return {
    camera: media ? media.isEnabled('video') : state.wanted.camera,
    mic: media ? media.isEnabled('audio') : state.wanted.mic,
    hasCamera: media ? media.has('video') : true,
    hasMic: media ? media.has('audio') : true,
  };
}

function renderLocal() {
  view.setLocalMedia({ ...localState(), name: state.name });
}

function sendState(onlyTo = null) {
  if (!state.joined) return;
  state.stateVersion = Math.max(state.stateVersion + 1, Date.now());
  for (const id of onlyTo ? [onlyTo] : state.members) {
    const peer = state.peers.get(id);
    // No Peer yet (a newcomer's offer is on its way) or one still connecting: carry it.
    if (!peer || peer.connectionState !== 'connected') carryState(id);
    else relay(id, { kind: 'state', ...mediaState() });
  }
}

// What a `state` message says: {v, camera, mic}, the newest.
function mediaState() {
  const { camera, mic } = localState();
  return { v: state.stateVersion, camera, mic };
}

function carryState(id) {
  if (state.stateDue.has(id)) return; // the newest state is read when it goes
  state.stateDue.set(id, setTimeout(() => flushState(id), STATE_CARRY_MS));
}

// The due state on its own, if no negotiation message has carried it yet.
function flushState(id) {
  if (!state.stateDue.has(id)) return;
  dropDueState(id);
  if (state.members.has(id)) relay(id, { kind: 'state', ...mediaState() });
}

function dropDueState(id) {
  clearTimeout(state.stateDue.get(id));
  state.stateDue.delete(id);
}

function onRemoteMedia(from, data) {
  if (!Number.isFinite(data.v)) return;
  const previous = state.remoteMedia.get(from);
  if (previous && previous.v >= data.v) return; // out of order: older news
  const media = { v: data.v, camera: data.camera !== false, mic: data.mic !== false };
  state.remoteMedia.set(from, media);
  view.setRemoteMedia(from, media);
}

function toggle(kind, key) {
  state.wanted[key] = !state.wanted[key];
  saveMedia(state.wanted);
  if (state.media) state.media.setEnabled(kind, state.wanted[key]);
  renderLocal();
  sendState();
}

view.on('camera', () => toggle('video', 'camera'));
view.on('mic', () => toggle('audio', 'mic'));

view.on('copy', async () => {
  try {
    await navigator.clipboard.writeText(roomUrl(state.room));
    view.copied(true);
  } catch {
    view.copied(false);
  }
});

// ---- leaving ----------------------------------------------------------------------------
function sayBye() {
  if (!state.joined || !sig) return;
  for (const id of state.members) {
    const epoch = state.peers.get(id)?.epoch ?? null;
    sig.send(signal(id, { kind: 'bye', epoch }));
  }
}

function shutdown() {
  state.left = true;
  for (const peer of state.peers.values()) peer.close();
  state.peers.clear();
  clearTimeout(spareTimer);
  clearTimeout(iceTimer);
  if (spare) spare.close();
  spare = null;
  for (const id of [...state.stateDue.keys()]) dropDueState(id);
  if (state.media) state.media.stop();
  if (sig) sig.close();
}

// Leave: devices and connections stop at once; the server hears `leave` only after the
// others confirmed our bye (or BYE_ACK_MS passed), because the server may handle two frames
// of one socket in any order, and a `leave` handled first would swallow the bye.
const BYE_ACK_MS = 1000;
const byeAcks = new Set();
let byeAcked = () => {};
let leaving = false;

view.on('leave', async () => {
  if (leaving) return;
  leaving = true;
  if (!state.left) {
    const wasJoined = state.joined && sig;
    const others = wasJoined ? [...state.members] : [];
    for (const id of others) byeAcks.add(id);
    const acked = new Promise((resolve) => {
      byeAcked = resolve;
      setTimeout(resolve, BYE_ACK_MS);
    });
    sayBye();
    for (const peer of state.peers.values()) peer.close();
    if (state.media) state.media.stop();
    state.left = true;
    if (others.length) await acked;
    if (wasJoined) sig.send(leave());
    forgetSession(state.room);
    shutdown();
  }
  location.assign('/');
});

// A reload or a closed tab: let the other side drop our connection at once, but do not
// `leave`, so that a reload can take our place in the room back.
window.addEventListener('pagehide', () => {
  if (state.room) releaseSession(state.room);
  if (state.left) return;
  sayBye();
  shutdown();
});

// Debug handle for the browser tests and for curious people: state only, no secrets.
window.p2pchat = {
  page: 'room',
  state,
  trace,
  get peers() {
    return state.peers;
  },
  get signaling() {
    return sig;
  },
};
