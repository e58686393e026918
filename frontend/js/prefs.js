// What the browser remembers for the person: display name and camera/microphone choice
// (localStorage; storage can be disabled, then nothing is remembered). No DOM, no network.

const NAME_KEY = 'p2pchat.name';
const MEDIA_KEY = 'p2pchat.media';

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* not remembered */
  }
}

export function savedName() {
  return read(NAME_KEY) ?? '';
}

export function saveName(name) {
  write(NAME_KEY, name);
}

export function savedMedia() {
  try {
    const value = JSON.parse(read(MEDIA_KEY) ?? '{}');
    return { camera: value.camera !== false, mic: value.mic !== false };
  } catch {
    return { camera: true, mic: true };
  }
}

export function saveMedia({ camera, mic }) {
  write(MEDIA_KEY, JSON.stringify({ camera, mic }));
}
