// One RTCPeerConnection to one remote peer, negotiated with the "perfect negotiation"
// pattern (W3C WebRTC spec example, MDN, webrtc/samples). No DOM.
//
// Usage:
//   const spare = new SpareConnection(stream);                           // ahead of need
//   const peer = new Peer({ remoteId, polite, iceServers, iceTransportPolicy,
//                           pc: spare.take(),                            // optional
//                           holdLocal: answering,                        // see holdLocal below
//                           send: (data) => relay(remoteId, data) });
//   peer.setLocalStream(stream);          // now or later; new tracks are negotiated at once
//   peer.addEventListener('track', (e) => video.srcObject = e.detail.stream);
//   peer.receive(data);                   // every signal `data` from that peer (see classify)
//   peer.setIceServers(servers);          // fresh TURN credentials, for the next gathering
//   peer.restartIce();  peer.close();
//
// Wire shape of `data` (inside the protocol's `signal` frame):
//   {kind: 'hello'|'sdp'|'ice', epoch, to, seq, description?, candidates?}
//   - candidates: the ICE candidates gathered within CANDIDATE_BATCH_MS, in one message (a
//     single `candidate` is still understood).
//   - epoch: random id of the sending RTCPeerConnection; `to`: the receiver's epoch as the
//     sender knows it (null until it has heard from it). A reloaded page has a new epoch, so
//     the other side knows to start a fresh connection instead of renegotiating a dead one.
//   - seq: 0, 1, 2... per sending connection. The signaling server promises no order, so the
//     receiver applies messages in seq order (a gap is skipped after GAP_TIMEOUT_MS), and
//     candidates that still arrive before a remote description are queued until it is set.
//
// Roles: both ends run the same code; `polite` decides who yields when offers collide.

const GAP_TIMEOUT_MS = 3000;
export const CONNECT_TIMEOUT_MS = 20000; // TURN with bad credentials stays "new" forever
// No pre-gathered candidate pool: with a pool, Chromium 156 sometimes left the answering side
// gathering forever with no candidate at all (the call stayed "new"; seen in the browser tests
// and the benchmarks, never without the pool). Host candidates are instant anyway.
const ICE_CANDIDATE_POOL_SIZE = 0;
const HOLD_LOCAL_MS = 1500;
// Candidates come in bursts a few milliseconds apart: one message per burst instead of one per
// candidate (each message is a Lambda invocation; here, a contender of the offer and answer).
// The other side needs them only after its answer, which takes longer than this.
const CANDIDATE_BATCH_MS = 30;
const CANDIDATE_BATCH_MAX = 16; // about 5 KB: far below the protocol's 16 KB per signal
// One transport for audio and video (every current browser bundles): half the ICE candidates
// to gather, relay and check, so fewer signaling messages per call.
const BUNDLE_POLICY = 'max-bundle';

function newConnection() {
  return new RTCPeerConnection({
    bundlePolicy: BUNDLE_POLICY,
    iceCandidatePoolSize: ICE_CANDIDATE_POOL_SIZE,
  });
}

// A connection made ahead of need, with the local tracks already on it: the next Peer takes
// it instead of creating one while a newcomer waits (creating the first RTCPeerConnection of a
// page, with its tracks, took tens of milliseconds on a busy machine). Nothing is negotiated
// or gathered until a Peer takes it, so it holds no network resources.
export class SpareConnection {
  constructor(stream) {
    this.pc = newConnection();
    for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
  }

  take() {
    const pc = this.pc;
    this.pc = null;
    return pc;
  }

  close() {
    if (this.pc) this.pc.close();
    this.pc = null;
  }
}

function newEpoch() {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_');
}

export class Peer extends EventTarget {
  constructor({
    remoteId,
    polite,
    iceServers = [],
    iceTransportPolicy = 'all',
    send,
    remoteEpoch = null,
    pc = null,
    holdLocal = false,
    log = () => {},
  }) {
    super();
    this._log = log;
    this.remoteId = remoteId;
    this.polite = polite;
    this.epoch = newEpoch();
    this.remoteEpoch = remoteEpoch;
    this.remoteStream = new MediaStream();
    this.closed = false;
    this._send = send;
    this._seqOut = 0;
    this._seqIn = 0;
    this._inbox = new Map();
    this._gapTimer = null;
    this._chain = Promise.resolve();
    this._pendingCandidates = [];
    this._outCandidates = [];
    this._candidateTimer = null;
    this._addedTracks = new Set();
    this._reserved = new Set(); // transceivers offered before the camera and microphone opened
    this._stream = null;
    this._holding = false;
    this._holdTimer = null;
    this._connectTimer = null;
    // Perfect negotiation state.
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.srdAnswerPending = false;

    this.pc = pc ?? newConnection();
    this.pc.setConfiguration({
      ...this.pc.getConfiguration(),
      iceServers,
      iceTransportPolicy, // 'relay': TURN only, the other side never learns our addresses
    });
    for (const sender of this.pc.getSenders()) {
      if (sender.track) this._addedTracks.add(sender.track); // a spare's tracks
    }
    this.pc.addEventListener('track', ({ track }) => {
      if (!this.remoteStream.getTracks().includes(track)) this.remoteStream.addTrack(track);
      track.addEventListener('ended', () => this.remoteStream.removeTrack(track));
      this._emit('track', { stream: this.remoteStream, track });
    });
    this.pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) this._queueCandidate(candidate.toJSON());
    });
    this.pc.addEventListener('negotiationneeded', () => {
      if (!this._holding) this._negotiate(); // while holding, the offer's answer covers it
    });
    this.pc.addEventListener('connectionstatechange', () => this._connectionChanged());
    this._armConnectTimer();
    if (holdLocal) this._hold();
  }

  get connectionState() {
    return this.pc.connectionState;
  }

  // First message of every connection: tells the other side this epoch exists even when
  // there is nothing to negotiate yet (a receive-only page).
  hello() {
    this._post({ kind: 'hello' });
  }

  // holdLocal: the side that answers a newcomer waits for the newcomer's offer before
  // offering its own tracks: they then ride the answer, with no second offer racing the first
  // (a collision costs a round trip and a rollback). If no offer comes, it offers itself.
  _hold(ms = HOLD_LOCAL_MS) {
    this._holding = true;
    this._holdTimer = setTimeout(() => this._releaseLocal(), ms);
  }

  // Offer audio and video now, before the local media exists: the call is negotiated and
  // connected while the camera is still opening, and setLocalStream then puts the tracks on
  // these transceivers (replaceTrack: no second round of negotiation).
  offerBeforeMedia() {
    if (this.closed || this._holding || this._stream) return;
    for (const kind of ['audio', 'video']) {
      this._reserved.add(this.pc.addTransceiver(kind, { direction: 'sendrecv' }));
    }
    this._negotiateIfNeeded();
  }

  // The local media, once it is known (a stream without tracks: receive only).
  setLocalStream(stream) {
    if (this.closed || !stream) return;
    this._stream = stream;
    if (this._holding) return;
    for (const track of stream.getTracks()) {
      if (this._addedTracks.has(track)) continue;
      this._addedTracks.add(track);
      const reserved = [...this._reserved].find((t) => t.receiver.track.kind === track.kind);
      if (reserved) {
        this._reserved.delete(reserved);
        // No setStreams: it would renegotiate; the other side builds its stream from tracks.
        reserved.sender.replaceTrack(track).catch((error) => this._emit('error', { error }));
      } else {
        this.pc.addTrack(track, stream); // reuses a receive-only transceiver of the same kind
      }
    }
    // What the devices did not give (camera refused, no microphone): stop offering to send it.
    for (const transceiver of this._reserved) transceiver.direction = 'recvonly';
    this._reserved.clear();
    this._negotiateIfNeeded();
  }

  // hello, unless an offer (which carries our epoch too) is already being made.
  greet() {
    if (!this.makingOffer) this.hello();
  }

  // What to do with `data` from this peer's id: 'accept', 'drop' (meant for an older
  // connection of ours), 'reset' (the other side started a new connection: replace this
  // one) or 'rebind' (a newer connection of theirs that already talks to this one).
  classify(data) {
    if (data.to && data.to !== this.epoch) return 'drop';
    if (this.remoteEpoch === null || data.epoch === this.remoteEpoch) return 'accept';
    if (!data.to) return 'reset';
    return this.pc.remoteDescription ? 'reset' : 'rebind';
  }

  receive(data) {
    if (this.closed || !Number.isInteger(data.seq) || data.seq < 0) return;
    if (this.remoteEpoch !== data.epoch) {
      this.remoteEpoch = data.epoch;
      this._seqIn = 0;
      this._inbox.clear();
    }
    if (data.seq < this._seqIn) return; // duplicate or skipped past
    this._inbox.set(data.seq, data);
    this._drain();
  }

  _releaseLocal() {
    if (!this._holding) return;
    this._holding = false;
    clearTimeout(this._holdTimer);
    if (this._stream) this.setLocalStream(this._stream);
    else this._negotiateIfNeeded();
  }

  // Offer now when tracks wait to be negotiated, without waiting for the browser's
  // negotiationneeded task (a spare's tracks were added before this Peer listened for it).
  // Starting the offer here also keeps that event from firing for the same change.
  _negotiateIfNeeded() {
    if (this.closed || this._holding || this.makingOffer) return;
    if (this.pc.signalingState !== 'stable') return; // the browser asks again once stable
    if (this.pc.getTransceivers().some((t) => t.mid === null)) this._negotiate();
  }

  restartIce() {
    if (this.closed) return;
    this._armConnectTimer();
    this.pc.restartIce(); // fires negotiationneeded; the offer carries new ICE credentials
  }

  // New ICE servers (fresh TURN credentials), used from the next gathering on: an ICE
  // restart, or this connection's first. A TURN allocation already made keeps the credentials
  // it was made with. Everything else in the configuration stays as it is: setConfiguration
  // throws on a changed bundlePolicy, rtcpMuxPolicy or certificates.
  setIceServers(iceServers) {
    if (this.closed) return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch (error) {
      this._emit('error', { error });
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this._gapTimer);
    clearTimeout(this._connectTimer);
    clearTimeout(this._holdTimer);
    clearTimeout(this._candidateTimer);
    this.pc.close();
    for (const track of this.remoteStream.getTracks()) track.stop();
  }

  // ---- internals ------------------------------------------------------------------------
  _queueCandidate(candidate) {
    this._outCandidates.push(candidate);
    if (this._outCandidates.length >= CANDIDATE_BATCH_MAX) this._sendCandidates();
    else if (this._candidateTimer === null) {
      this._candidateTimer = setTimeout(() => this._sendCandidates(), CANDIDATE_BATCH_MS);
    }
  }

  _sendCandidates() {
    clearTimeout(this._candidateTimer);
    this._candidateTimer = null;
    if (this._outCandidates.length) {
      this._post({ kind: 'ice', candidates: this._outCandidates.splice(0) });
    }
  }

  _post(payload) {
    if (this.closed) return;
    const data = { ...payload, epoch: this.epoch, to: this.remoteEpoch, seq: this._seqOut++ };
    this._log('out', data.kind, data.seq, data.description?.type ?? '');
    this._send(data);
  }

  _drain() {
    clearTimeout(this._gapTimer);
    this._gapTimer = null;
    while (this._inbox.has(this._seqIn)) {
      const message = this._inbox.get(this._seqIn);
      this._inbox.delete(this._seqIn);
      this._seqIn += 1;
      this._chain = this._chain.then(() => this._handle(message));
    }
    if (this._inbox.size > 0) {
      // A message is missing (lost while a socket was down): do not wait forever.
      this._gapTimer = setTimeout(() => {
        this._seqIn = Math.min(...this._inbox.keys());
        this._drain();
      }, GAP_TIMEOUT_MS);
    }
  }

  async _handle(message) {
    if (this.closed) return;
    this._log('handle', message.kind, message.seq, message.description?.type ?? '', this.pc.signalingState);
    try {
      if (message.kind === 'sdp') await this._onDescription(message.description);
      else if (message.kind === 'ice') {
        const candidates = Array.isArray(message.candidates) ? message.candidates : [message.candidate];
        for (const candidate of candidates) {
          try {
            await this._onCandidate(candidate);
          } catch (error) {
            this._emit('error', { error }); // one bad candidate does not drop the others
          }
        }
      }
      // 'hello' carries nothing but its epoch.
    } catch (error) {
      this._emit('error', { error });
    }
  }

  async _negotiate() {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription(); // an offer, from the current state
      // A remote offer applied meanwhile (we are polite) turned this into an answer, which
      // _onDescription sends; send only a local offer from here.
      if (this.pc.signalingState === 'have-local-offer') {
        this._post({ kind: 'sdp', description: this.pc.localDescription.toJSON() });
      }
    } catch (error) {
      if (!this.closed) this._emit('error', { error });
    } finally {
      this.makingOffer = false;
    }
  }

  async _onDescription(description) {
    const pc = this.pc;
    // With an answer being applied we will be stable by the time the next SRD runs.
    const readyForOffer =
      !this.makingOffer && (pc.signalingState === 'stable' || this.srdAnswerPending);
    const offerCollision = description.type === 'offer' && !readyForOffer;
    this.ignoreOffer = !this.polite && offerCollision;
    if (this.ignoreOffer) {
      this._log('ignored colliding offer');
      return; // the impolite side keeps its own offer
    }
    this.srdAnswerPending = description.type === 'answer';
    await pc.setRemoteDescription(description); // the polite side rolls back implicitly
    this.srdAnswerPending = false;
    await this._flushCandidates();
    if (description.type === 'offer') {
      this._releaseLocal(); // our tracks join this answer
      await pc.setLocalDescription(); // the answer
      this._post({ kind: 'sdp', description: pc.localDescription.toJSON() });
    }
  }

  async _onCandidate(candidate) {
    if (!this.pc.remoteDescription) {
      this._pendingCandidates.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (error) {
      if (!this.ignoreOffer) throw error; // candidates of an offer we ignored may fail
    }
  }

  async _flushCandidates() {
    const pending = this._pendingCandidates.splice(0);
    for (const candidate of pending) {
      try {
        await this.pc.addIceCandidate(candidate);
      } catch (error) {
        // Gathered for a description that was rolled back: nothing to apply it to.
        this._log('queued candidate refused', String(error));
      }
    }
  }

  _armConnectTimer() {
    clearTimeout(this._connectTimer);
    this._connectTimer = setTimeout(() => {
      if (!this.closed && this.pc.connectionState !== 'connected') {
        this._emit('failed', { reason: 'timeout' });
      }
    }, CONNECT_TIMEOUT_MS);
  }

  _connectionChanged() {
    const state = this.pc.connectionState;
    if (state === 'connected') clearTimeout(this._connectTimer);
    this._emit('connectionstate', { state });
    if (state === 'failed') this._emit('failed', { reason: 'ice' });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
