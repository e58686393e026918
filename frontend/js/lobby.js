// The lobby's composition root: name, camera preview, "Create room" and "Join".

import { openLocalMedia } from './media.js';
import { newRoomCode, roomFromInput, roomUrl } from './invite.js';
import { savedMedia, savedName, saveMedia, saveName } from './prefs.js';
import { cleanName } from './protocol.js';
import { LobbyView } from './ui.js';

const view = new LobbyView(document);
const wanted = savedMedia();
let media = null;

view.setName(savedName());
render();

openLocalMedia().then((opened) => {
  media = opened;
  media.setEnabled('video', wanted.camera);
  media.setEnabled('audio', wanted.mic);
  view.setPreview(media.stream);
  render();
});

function render() {
  view.setMedia({
    camera: media ? media.isEnabled('video') : wanted.camera,
    mic: media ? media.isEnabled('audio') : wanted.mic,
    hasCamera: media ? media.has('video') : true,
    hasMic: media ? media.has('audio') : true,
    problem: media?.problem ?? null,
  });
}

function toggle(kind, key) {
  wanted[key] = !wanted[key];
  if (media) media.setEnabled(kind, wanted[key]);
  saveMedia(wanted);
  render();
}

view.on('camera', () => toggle('video', 'camera'));
view.on('mic', () => toggle('audio', 'mic'));

function acceptName(raw) {
  const { name, error } = cleanName(raw);
  if (error) {
    view.nameError(error);
    return null;
  }
  saveName(name);
  return name;
}

function enter(room) {
  view.busy(true);
  if (media) media.stop(); // the room opens its own; release the camera light meanwhile
  location.assign(roomUrl(room));
}

view.on('create', ({ name }) => {
  if (acceptName(name)) enter(newRoomCode());
});

view.on('join', ({ name, room: input }) => {
  const { room, error } = roomFromInput(input);
  if (error) {
    view.joinError(error);
    return;
  }
  if (acceptName(name)) enter(room);
});

window.addEventListener('pagehide', () => media?.stop());
window.p2pchat = { page: 'lobby', get media() { return media; } };
