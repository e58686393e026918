// The local camera and microphone: open them, mute them, stop them. No network, no DOM.
//
// Usage:
//   const media = await openLocalMedia();     // never throws
//   media.stream;                             // a MediaStream, possibly without tracks
//   media.problem;                            // null, or a sentence about what is missing
//   media.setEnabled('video', false);         // camera off (the track stays, sends black)
//   media.stop();                             // releases the devices
//
// When the browser refuses both devices at once, each is tried alone, so a person with a
// broken microphone still shows their camera, and one with neither still receives.

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

function reasonOf(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'denied';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'missing';
    case 'NotReadableError':
    case 'AbortError':
      return 'busy';
    default:
      return 'unavailable';
  }
}

function describe(missing, reason) {
  const what = missing.length === 2 ? 'camera and microphone' : missing[0];
  const why = {
    denied: `Access to your ${what} was refused.`,
    missing: `No ${what} was found.`,
    busy: `Your ${what} is in use by another app.`,
    unavailable: `Your ${what} could not be opened.`,
  }[reason];
  const consequence =
    missing.length === 2
      ? 'You can still join and see and hear the others; they will not see or hear you.'
      : missing[0] === 'camera'
        ? 'You can still join; the others will hear you but not see you.'
        : 'You can still join; the others will see you but not hear you.';
  const fix = reason === 'denied' ? ' Allow access in your browser’s site settings and reload.' : '';
  return `${why} ${consequence}${fix}`;
}

export class LocalMedia {
  constructor(stream, problem = null) {
    this.stream = stream;
    this.problem = problem;
    this.stopped = false;
  }

  track(kind) {
    return kind === 'video' ? this.stream.getVideoTracks()[0] : this.stream.getAudioTracks()[0];
  }

  has(kind) {
    return Boolean(this.track(kind));
  }

  isEnabled(kind) {
    const track = this.track(kind);
    return Boolean(track && track.enabled && track.readyState === 'live');
  }

  setEnabled(kind, enabled) {
    const track = this.track(kind);
    if (track) track.enabled = enabled;
    return this.isEnabled(kind);
  }

  stop() {
    this.stopped = true;
    for (const track of this.stream.getTracks()) track.stop();
  }
}

export async function openLocalMedia({ getUserMedia } = {}) {
  const gum =
    getUserMedia ??
    (navigator.mediaDevices?.getUserMedia
      ? (constraints) => navigator.mediaDevices.getUserMedia(constraints)
      : null);
  if (!gum) {
    return new LocalMedia(
      new MediaStream(),
      'This browser cannot use a camera or microphone here. You can still join and watch.',
    );
  }
  try {
    return new LocalMedia(await gum({ video: VIDEO, audio: AUDIO }));
  } catch (bothError) {
    const stream = new MediaStream();
    const missing = [];
    let reason = reasonOf(bothError);
    for (const [label, constraints] of [
      ['camera', { video: VIDEO }],
      ['microphone', { audio: AUDIO }],
    ]) {
      try {
        const single = await gum(constraints);
        for (const track of single.getTracks()) stream.addTrack(track);
      } catch (error) {
        missing.push(label);
        reason = reasonOf(error);
      }
    }
    return new LocalMedia(stream, missing.length ? describe(missing, reason) : null);
  }
}
