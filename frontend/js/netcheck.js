// What the browser's ICE agent saw, for diagnosis.js to judge. RTC only: no DOM, no signaling.
//
// Usage (room.js):
//   const result = await gatherCandidates(iceServers, { timeoutMs, until });  // the check
//   const watch = watchConnection(pc);          // from a Peer's creation on: its ICE errors
//   const report = await connectionReport(pc, watch);   // when it failed: stats, SDP, errors
//   const stats = await statsOf(pc);            // for diagnosis.selectedPath
//   watch.reset();                              // an ICE restart gathers afresh

function errorOf(event) {
  return { code: event.errorCode, url: event.url ?? '', text: event.errorText ?? '' };
}

// Gathers candidates on a throwaway connection that is never connected to anyone (its
// candidates go nowhere): until gathering is complete, `until(result)` says there is nothing
// more to learn, or timeoutMs passes. Never rejects: {candidates, errors, complete}.
export async function gatherCandidates(iceServers, { timeoutMs, until = () => false } = {}) {
  const result = { candidates: [], errors: [], complete: false };
  let pc;
  try {
    pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'all' });
  } catch (error) {
    result.errors.push({ code: 0, url: '', text: String(error) });
    return result;
  }
  try {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        resolve();
      };
      pc.addEventListener('icecandidate', ({ candidate }) => {
        if (!candidate) return;
        if (candidate.candidate) {
          result.candidates.push({
            type: candidate.type,
            protocol: candidate.protocol,
            relayProtocol: candidate.relayProtocol ?? null,
            url: candidate.url ?? null,
          });
        }
        if (until(result)) finish();
      });
      pc.addEventListener('icecandidateerror', (event) => result.errors.push(errorOf(event)));
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState !== 'complete') return;
        result.complete = true;
        finish();
      });
      pc.createDataChannel('check'); // something to negotiate, so that gathering starts
      pc.setLocalDescription().catch((error) => {
        result.errors.push({ code: 0, url: '', text: String(error) });
        finish();
      });
    });
  } finally {
    pc.close(); // releases the TURN allocations at once
  }
  return result;
}

// The ICE errors of one connection (a Peer's), kept from its creation on.
export function watchConnection(pc) {
  const watch = {
    errors: [],
    reset() {
      watch.errors.length = 0;
    },
  };
  pc.addEventListener('icecandidateerror', (event) => {
    if (watch.errors.length < 50) watch.errors.push(errorOf(event));
  });
  return watch;
}

export async function statsOf(pc) {
  try {
    return [...(await pc.getStats()).values()];
  } catch {
    return []; // closed meanwhile
  }
}

export async function connectionReport(pc, watch) {
  return {
    stats: await statsOf(pc),
    localSdp: pc.localDescription?.sdp ?? null,
    remoteSdp: pc.remoteDescription?.sdp ?? null,
    errors: [...(watch?.errors ?? [])],
    connectionState: pc.connectionState,
    iceGatheringState: pc.iceGatheringState,
  };
}
