// DOM only: renders state and turns clicks into intents. No network, no RTC.
// Untrusted text (names, room codes) only ever goes in through textContent.
//
// Usage:
//   const view = new RoomView(document);
//   view.on('camera', () => ...);          // intents: camera, mic, leave, copy, retry(id), ...
//   view.addRemote(id, name); view.setRemoteStream(id, stream); view.notify('Ana left');

const NOTICE_MS = 6000;

function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((word) => [...word][0] ?? '');
  return (letters.join('') || '?').toUpperCase();
}

class View extends EventTarget {
  constructor(doc) {
    super();
    this.doc = doc;
  }

  $(id) {
    return this.doc.getElementById(id);
  }

  on(intent, handler) {
    this.addEventListener(intent, (event) => handler(event.detail));
  }

  emit(intent, detail = {}) {
    this.dispatchEvent(new CustomEvent(intent, { detail }));
  }

  bindToggle(id, intent) {
    this.$(id).addEventListener('click', () => this.emit(intent));
  }

  setToggle(id, on, available = true) {
    const button = this.$(id);
    button.setAttribute('aria-pressed', String(on));
    button.classList.toggle('is-off', !on);
    button.disabled = !available;
    const state = button.querySelector('.state');
    if (state) state.textContent = available ? (on ? 'On' : 'Off') : 'Unavailable';
  }

  showMessage(id, text) {
    const element = this.$(id);
    element.textContent = text ?? '';
    element.hidden = !text;
  }
}

export class LobbyView extends View {
  constructor(doc) {
    super(doc);
    this.bindToggle('camera', 'camera');
    this.bindToggle('mic', 'mic');
    this.$('create-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.emit('create', { name: this.$('name').value });
    });
    this.$('join-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.emit('join', { name: this.$('name').value, room: this.$('room-input').value });
    });
    this.$('name').addEventListener('input', () => this.nameError(null));
    this.$('room-input').addEventListener('input', () => this.joinError(null));
  }

  setName(name) {
    this.$('name').value = name;
  }

  nameError(text) {
    this.showMessage('name-error', text);
    this.$('name').setAttribute('aria-invalid', String(Boolean(text)));
    if (text) this.$('name').focus();
  }

  joinError(text) {
    this.showMessage('join-error', text);
    this.$('room-input').setAttribute('aria-invalid', String(Boolean(text)));
    if (text) this.$('room-input').focus();
  }

  setPreview(stream) {
    const video = this.$('preview');
    if (!stream.getVideoTracks().length) return; // an empty stream would stall the page's load
    video.srcObject = stream;
    video.play().catch(() => {});
  }

  setMedia({ camera, mic, hasCamera, hasMic, problem }) {
    this.setToggle('camera', camera, hasCamera);
    this.setToggle('mic', mic, hasMic);
    this.$('preview-frame').classList.toggle('cam-off', !camera);
    this.$('preview-off-text').textContent = hasCamera ? 'Camera is off' : 'No camera';
    this.showMessage('media-problem', problem);
  }

  busy(on) {
    for (const id of ['create', 'join']) this.$(id).disabled = on;
  }
}

export class RoomView extends View {
  constructor(doc) {
    super(doc);
    this.tiles = new Map();
    this.bindToggle('camera', 'camera');
    this.bindToggle('mic', 'mic');
    this.$('leave').addEventListener('click', () => this.emit('leave'));
    for (const button of doc.querySelectorAll('[data-intent="copy"]')) {
      button.addEventListener('click', () => this.emit('copy'));
    }
    this.$('name-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.emit('name', { name: this.$('gate-name').value });
    });
    this.$('gate-name').addEventListener('input', () => this.gateError(null));
  }

  setRoom(code) {
    this.$('room-code').textContent = code;
    this.doc.title = `Room ${code} · P2PChat`;
  }

  askName(room, name) {
    this.$('gate-room').textContent = room;
    this.$('gate-name').value = name || '';
    this.$('gate').hidden = false;
    this.$('gate-name').focus();
  }

  gateError(text) {
    this.showMessage('gate-error', text);
    this.$('gate-name').setAttribute('aria-invalid', String(Boolean(text)));
  }

  closeGate() {
    this.$('gate').hidden = true;
  }

  showCall() {
    this.$('call').hidden = false;
  }

  setLocalStream(stream) {
    const video = this.$('local-video');
    if (!stream.getVideoTracks().length) return; // an empty stream would stall the page's load
    video.srcObject = stream;
    video.play().catch(() => {});
  }

  setLocalMedia({ camera, mic, hasCamera, hasMic, name }) {
    this.setToggle('camera', camera, hasCamera);
    this.setToggle('mic', mic, hasMic);
    const tile = this.$('local-tile');
    tile.classList.toggle('cam-off', !camera);
    tile.querySelector('.avatar').textContent = initials(name);
    tile.querySelector('.badge-mic').hidden = mic;
  }

  mediaProblem(text) {
    this.showMessage('media-problem', text);
  }

  copied(ok) {
    for (const button of this.doc.querySelectorAll('[data-intent="copy"]')) {
      const label = button.querySelector('.label');
      label.textContent = ok ? 'Copied' : 'Copy failed';
      button.classList.toggle('is-done', ok);
      clearTimeout(button._reset);
      button._reset = setTimeout(() => {
        label.textContent = 'Copy invite link';
        button.classList.remove('is-done');
      }, 2500);
    }
    this.notify(ok ? 'Invite link copied' : 'Could not copy. Copy the address bar instead.');
  }

  banner(text, tone = 'info') {
    const element = this.$('banner');
    element.textContent = text ?? '';
    element.hidden = !text;
    element.dataset.tone = tone;
  }

  // A notice for NOTICE_MS; returns a function that takes it away sooner (once it is out of
  // date, e.g. "Press Retry" for a call that came back by itself).
  notify(text) {
    const list = this.$('notices');
    const item = this.doc.createElement('p');
    item.className = 'notice';
    item.textContent = text;
    list.append(item);
    const timer = setTimeout(() => item.remove(), NOTICE_MS);
    return () => {
      clearTimeout(timer);
      item.remove();
    };
  }

  fatal(title, text) {
    this.$('call').hidden = true;
    this.$('gate').hidden = true;
    this.$('fatal-title').textContent = title;
    this.$('fatal-text').textContent = text;
    this.$('fatal').hidden = false;
    this.$('fatal-home').focus();
  }

  // ---- remote tiles ---------------------------------------------------------------------
  addRemote(id, name) {
    if (this.tiles.has(id)) return this.tiles.get(id);
    const tile = this.$('remote-template').content.firstElementChild.cloneNode(true);
    tile.dataset.peer = id;
    // The id is read at click time: a tile is re-keyed when its peer comes back under a new id.
    tile.querySelector('.retry').addEventListener('click', () => {
      this.emit('retry', { id: tile.dataset.peer });
    });
    const video = tile.querySelector('video');
    tile.querySelector('.unmute').addEventListener('click', () => {
      video.muted = false;
      video.play().then(() => {
        tile.querySelector('.unmute').hidden = true;
      }, () => {});
    });
    this.tiles.set(id, tile);
    this.$('remotes').append(tile);
    this.setRemoteName(id, name);
    this._layout();
    return tile;
  }

  rekeyRemote(oldId, newId) {
    const tile = this.tiles.get(oldId);
    if (!tile || this.tiles.has(newId)) return;
    this.tiles.delete(oldId);
    this.tiles.set(newId, tile);
    tile.dataset.peer = newId;
  }

  setRemoteName(id, name) {
    const tile = this.tiles.get(id);
    if (!tile || !name) return;
    tile.querySelector('.tile-name').textContent = name;
    tile.querySelector('.avatar').textContent = initials(name);
    tile.setAttribute('aria-label', `${name}`);
  }

  setRemoteStream(id, stream) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const video = tile.querySelector('video');
    if (video.srcObject !== stream) video.srcObject = stream;
    video.play().catch(() => {
      // Autoplay with sound refused: play muted and offer a button.
      video.muted = true;
      video.play().catch(() => {});
      tile.querySelector('.unmute').hidden = false;
    });
  }

  setRemoteMedia(id, { camera, mic }) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.classList.toggle('cam-off', !camera);
    tile.dataset.camera = camera ? 'on' : 'off';
    tile.dataset.mic = mic ? 'on' : 'off';
    tile.querySelector('.badge-cam').hidden = camera;
    tile.querySelector('.badge-mic').hidden = mic;
  }

  // status: connecting | connected | reconnecting | away | failed
  setRemoteStatus(id, status) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.dataset.status = status;
    const text = {
      connecting: 'Connecting…',
      connected: '',
      reconnecting: 'Connection unstable, reconnecting…',
      away: 'Lost the server, still connected',
      failed: 'Connection failed',
    }[status];
    const label = tile.querySelector('.tile-status');
    label.textContent = text ?? '';
    label.hidden = !text;
    tile.querySelector('.retry').hidden = status !== 'failed';
    // A diagnosis stays through Chromium's failed -> connecting flaps (its ICE agent keeps
    // checking): it goes once the call connects, or when room.js starts a new attempt.
    if (status === 'connected') this.setRemoteDiagnosis(id, null);
    if (status !== 'connected' && status !== 'away') this.setRemotePath(id, null); // media stopped
  }

  // How the media travels (diagnosis.pathWords: {path, label, detail}), or null: unknown.
  setRemotePath(id, words) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const badge = tile.querySelector('.badge-path');
    if (words) tile.dataset.path = words.path;
    else delete tile.dataset.path;
    badge.textContent = words?.label ?? '';
    badge.title = words?.detail ?? '';
    badge.hidden = !words;
  }

  // Why a connection failed ({cause, title, advice}, diagnosis.diagnoseCall), or null.
  // Returns whether the tile now says something it did not (worth announcing).
  setRemoteDiagnosis(id, why) {
    const tile = this.tiles.get(id);
    if (!tile) return false;
    const box = tile.querySelector('.tile-why');
    const before = box.hidden ? null : box.textContent;
    box.querySelector('.tile-why-title').textContent = why?.title ?? '';
    box.querySelector('.tile-why-advice').textContent = why?.advice ?? '';
    box.hidden = !why;
    if (why) tile.dataset.cause = why.cause;
    else delete tile.dataset.cause;
    return Boolean(why) && box.textContent !== before;
  }

  // The check run while waiting for others: 'checking', or {verdict, title, advice}.
  setNetworkCheck(result) {
    const section = this.$('netcheck');
    section.hidden = false;
    const checking = result === 'checking';
    section.dataset.verdict = checking ? 'checking' : result.verdict;
    this.$('netcheck-verdict').textContent = checking ? 'Checking what your network allows…' : result.title;
    this.showMessage('netcheck-advice', checking ? null : result.advice);
  }

  // Said to screen readers (a polite live region); what is on screen says it too.
  announce(text) {
    const region = this.$('announcer');
    region.textContent = '';
    // A new text node in a later task: the same words twice are announced twice.
    setTimeout(() => {
      region.textContent = text;
    }, 50);
  }

  removeRemote(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const video = tile.querySelector('video');
    video.srcObject = null;
    tile.remove();
    this.tiles.delete(id);
    this._layout();
  }

  _layout() {
    const count = this.tiles.size;
    this.$('stage').dataset.remotes = String(count);
    this.$('waiting').hidden = count > 0;
  }
}
