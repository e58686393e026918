// Why a call connects the way it does, or does not connect, in words a person understands.
// Pure: observations in, a cause and its words out. No DOM, no RTC, no network: the same code
// runs under Node (tests/frontend/diagnosis.test.mjs). netcheck.js gathers the raw material,
// room.js passes it here and hands the words to ui.js.
//
// Usage:
//   judgeNetwork({relayConfigured, stunConfigured, policy, candidates, errors})
//     -> {verdict, title, advice}        the check a page runs while waiting for others
//   callObservations(report, {name, signalingUp, relayConfigured, policy})
//     -> observations                    from netcheck.connectionReport(pc)
//   diagnoseCall(observations) -> {cause, title, advice}   a connection that failed
//   pathWords(selectedPath(stats), name) -> {path, label, detail, announce} | null
//   selectedPath(stats) -> {path: 'direct'|'relayed', local, remote, relayProtocol} | null
//
// Candidates are {type: 'host'|'srflx'|'prflx'|'relay', protocol, relayProtocol}; errors are
// {code, url} from `icecandidateerror` (401: the TURN server refused the credentials; 701: a
// STUN or TURN server did not answer). Chromium does not always report a 401 (not over TCP
// while UDP is blocked, measured): no 401 seen is not proof the credentials are good.

// How long the check waits for candidates at most. With UDP dropped, gathering never
// completes (the TURN/UDP attempts retry silently), so the check ends on this bound.
export const CHECK_MS = 6000;

const TYPES = ['host', 'srflx', 'prflx', 'relay'];

// One `candidate:` attribute (with or without `a=`) -> {type, protocol} or null.
export function parseCandidate(line) {
  const text = String(line ?? '').replace(/^a=/, '');
  const parts = text.split(/\s+/);
  if (!/^candidate:/.test(parts[0] ?? '')) return null;
  const at = parts.indexOf('typ');
  const type = at > 0 ? parts[at + 1] : undefined;
  if (!TYPES.includes(type)) return null;
  return { type, protocol: String(parts[2] ?? '').toLowerCase() };
}

// The candidates an SDP carries (trickled ones too, once applied).
export function candidatesInSdp(sdp) {
  return String(sdp ?? '')
    .split(/\r?\n/)
    .filter((line) => line.startsWith('a=candidate:'))
    .map(parseCandidate)
    .filter(Boolean);
}

export function countTypes(candidates) {
  const counts = { host: 0, srflx: 0, prflx: 0, relay: 0, total: 0 };
  for (const candidate of candidates ?? []) {
    if (!TYPES.includes(candidate?.type)) continue;
    counts[candidate.type] += 1;
    counts.total += 1;
  }
  return counts;
}

function urlsOf(iceServers) {
  return (Array.isArray(iceServers) ? iceServers : []).flatMap((server) =>
    Array.isArray(server?.urls) ? server.urls : [server?.urls]).map(String);
}

export function relayConfigured(iceServers) {
  return urlsOf(iceServers).some((url) => /^turns?:/.test(url));
}

export function stunConfigured(iceServers) {
  return urlsOf(iceServers).some((url) => /^stuns?:/.test(url));
}

const refused = (errors) => (errors ?? []).some((error) => Number(error?.code) === 401);

// ---- before the call ----------------------------------------------------------------------
const VERDICTS = {
  direct: {
    title: 'Direct calls possible',
    advice: 'Your network lets a call go straight to the other person.',
  },
  'direct-no-relay': {
    title: 'Direct calls possible',
    advice: 'Your network lets a call go straight to the other person. This P2PChat has no '
      + 'relay server, so someone on a network that blocks direct calls may not reach you.',
  },
  relayed: {
    title: 'Calls will be relayed (your network blocks direct connections)',
    advice: 'Your network blocks the UDP traffic direct calls use, so calls go through our relay '
      + 'server over TCP. They work, with a little more delay; for the best quality, use '
      + 'another network (a home network or a phone hotspot).',
  },
  'relay-policy': {
    title: 'Calls will be relayed',
    advice: 'This P2PChat sends every call through its relay server, so the other person never '
      + 'learns your network address. Your network reaches the relay.',
  },
  'relay-unreachable': {
    title: 'Relay unreachable: calls to people on other networks may fail',
    advice: 'Your network blocks our relay server (TURN). A call still works where a direct '
      + 'path exists (for example on the same network). Otherwise try another network (a phone '
      + 'hotspot often works), or ask your network administrator to allow the relay.',
  },
  'relay-refused': {
    title: 'Relay refused our credentials',
    advice: 'The relay server did not accept the sign-in this page was given, so calls that '
      + 'need it will fail. Reload the page to get new credentials; if it keeps happening, tell '
      + 'whoever runs this P2PChat (the relay and the server may not share the same secret).',
  },
  blocked: {
    title: 'Your network blocks direct calls',
    advice: 'This network lets no UDP traffic out, and this P2PChat has no relay server to fall '
      + 'back on. Try another network (a home network or a phone hotspot).',
  },
  offline: {
    title: 'No network found',
    advice: 'Your browser found no network address to call from. Check your connection, then '
      + 'reload the page.',
  },
};

export function verdictWords(verdict) {
  return { verdict, ...VERDICTS[verdict] };
}

// What the check's candidates say about this network. `policy` is the room's
// iceTransportPolicy ('relay': only the relay matters).
export function judgeNetwork({ relayConfigured: relay = false, stunConfigured: stun = false,
  policy = 'all', candidates = [], errors = [] } = {}) {
  const relays = candidates.filter((c) => c?.type === 'relay');
  const relayUdp = relays.some((c) => (c.relayProtocol ?? 'udp') === 'udp');
  const srflx = candidates.some((c) => c?.type === 'srflx');
  const hostUdp = candidates.some((c) => c?.type === 'host' && c.protocol === 'udp');
  if (relay) {
    if (policy === 'relay' && relays.length) return verdictWords('relay-policy');
    if (relayUdp) return verdictWords('direct');
    if (relays.length) return verdictWords(srflx ? 'direct' : 'relayed');
    if (refused(errors)) return verdictWords('relay-refused');
    if (candidates.length === 0) return verdictWords('offline');
    return verdictWords('relay-unreachable');
  }
  if (candidates.length === 0) return verdictWords('offline');
  if (stun && !srflx) return verdictWords('blocked'); // a STUN server to ask, and no answer
  return verdictWords(srflx || hostUdp ? 'direct-no-relay' : 'blocked');
}

// The check can stop early once nothing it still waits for would change the verdict: a relay
// candidate over UDP means UDP gets out and the relay works.
export function checkSettled({ candidates = [] } = {}) {
  return candidates.some((c) => c?.type === 'relay' && (c.relayProtocol ?? 'udp') === 'udp');
}

// ---- during the call ----------------------------------------------------------------------
function statsList(stats) {
  if (!stats) return [];
  if (Array.isArray(stats)) return stats;
  if (typeof stats.values === 'function') return [...stats.values()];
  return Object.values(stats);
}

// The candidate pair the connection uses: the transport's selected pair, else a nominated
// pair that succeeded. 'relayed' if either end of it is a relay candidate.
export function selectedPath(stats) {
  const list = statsList(stats);
  const byId = new Map(list.map((s) => [s.id, s]));
  const transport = list.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  let pair = transport ? byId.get(transport.selectedCandidatePairId) : null;
  if (!pair) {
    pair = list.find((s) => s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated);
  }
  if (!pair) return null;
  const local = byId.get(pair.localCandidateId);
  const remote = byId.get(pair.remoteCandidateId);
  if (!local || !remote) return null;
  const relayed = local.candidateType === 'relay' || remote.candidateType === 'relay';
  return {
    path: relayed ? 'relayed' : 'direct',
    local: local.candidateType,
    remote: remote.candidateType,
    relayProtocol: local.candidateType === 'relay' ? (local.relayProtocol ?? null) : null,
  };
}

// What netcheck.connectionReport(pc) saw, reduced to what diagnoseCall needs. `extra`:
// {name, signalingUp, wasConnected, relayConfigured, policy}, known to the room.
export function callObservations(report, extra = {}) {
  const list = statsList(report?.stats);
  const local = list.filter((s) => s.type === 'local-candidate')
    .map((s) => ({ type: s.candidateType, protocol: s.protocol, relayProtocol: s.relayProtocol }));
  // Remote candidates: those applied to the remote description, else the ones in stats.
  let remote = candidatesInSdp(report?.remoteSdp);
  if (remote.length === 0) {
    remote = list.filter((s) => s.type === 'remote-candidate')
      .map((s) => ({ type: s.candidateType, protocol: s.protocol }));
  }
  return {
    name: extra.name ?? null,
    signalingUp: extra.signalingUp !== false,
    answered: Boolean(report?.remoteSdp),
    wasConnected: Boolean(extra.wasConnected),
    relayConfigured: Boolean(extra.relayConfigured),
    policy: extra.policy ?? 'all',
    local: countTypes(local),
    remote: countTypes(remote),
    errors: (report?.errors ?? []).map((e) => ({ code: e.code, url: e.url })),
  };
}

const CAUSES = {
  'signaling-lost': () => ({
    title: 'Lost the connection to the server',
    advice: 'This page lost its connection to the server while the call was being set up, so '
      + 'the two browsers could not finish introducing themselves. Check your internet '
      + 'connection; the page reconnects by itself. Then press Retry.',
  }),
  'path-lost': ({ name }) => ({
    title: `The connection to ${name} was lost`,
    advice: 'The call worked, then the network stopped carrying it (a network change, Wi-Fi '
      + 'dropping, a relay going away). It often comes back by itself within seconds; if not, '
      + 'press Retry.',
  }),
  'no-answer': ({ name, Name }) => ({
    title: `No answer from ${name}`,
    advice: `${Name}'s reply never arrived through the server: their connection to it probably `
      + 'dropped. Ask them to check their connection and reload the page, then press Retry.',
  }),
  'relay-refused': () => ({
    title: 'The relay server refused our credentials',
    advice: 'No direct path worked, and the relay server (TURN) did not accept the sign-in this '
      + 'page was given. Reload the page to get new credentials; if it keeps happening, tell '
      + 'whoever runs this P2PChat (the relay and the server may not share the same secret).',
  }),
  'relay-unreachable': ({ name }) => ({
    title: 'Your network blocks the relay server',
    advice: `No direct path to ${name} worked, and the relay server (TURN) cannot be reached from `
      + 'your network. Try another network (a phone hotspot often works) or ask your network '
      + 'administrator to allow the relay, then press Retry.',
  }),
  'remote-unreachable': ({ Name }) => ({
    title: `${Name}'s network cannot be reached`,
    advice: `${Name}'s browser found no address we can reach, not even through the relay server: `
      + 'their network probably blocks it. Ask them to try another network (a phone hotspot '
      + 'often works), then press Retry.',
  }),
  'checks-failed': ({ name, relay }) => ({
    title: `No path between you and ${name} worked`,
    advice: relay
      ? 'Both browsers found addresses, the relay server included, but every attempt to '
        + 'connect failed: a firewall is probably blocking the traffic. Try another network '
        + '(a phone hotspot often works), then press Retry.'
      : 'Both browsers found addresses, but every attempt to connect directly failed: a '
        + 'firewall or a strict router is in the way, and this P2PChat has no relay server to '
        + 'fall back on. Try another network (a phone hotspot often works), or ask whoever runs '
        + 'this P2PChat to add a relay (TURN) server.',
  }),
};

// The most likely cause of a connection that failed or did not connect in time, first match:
//   our socket to the server is dead                      -> signaling-lost
//   the connection had worked before                      -> path-lost
//   their session description never reached us            -> no-answer
//   a relay is configured, we gathered none, 401 seen     -> relay-refused
//   a relay is configured, we gathered none               -> relay-unreachable
//   they sent no candidate at all                         -> remote-unreachable
//   we have a relay, they have neither relay nor srflx    -> remote-unreachable (their relay failed)
//   otherwise (candidates on both sides, checks failed)   -> checks-failed
export function diagnoseCall(observations) {
  const o = observations ?? {};
  const name = o.name || 'the other person';
  const Name = o.name || 'The other person'; // at the start of a sentence
  const local = o.local ?? countTypes([]);
  const remote = o.remote ?? countTypes([]);
  let cause;
  if (o.signalingUp === false) cause = 'signaling-lost';
  else if (o.wasConnected) cause = 'path-lost';
  else if (o.answered === false) cause = 'no-answer';
  else if (o.relayConfigured && local.relay === 0) {
    cause = refused(o.errors) ? 'relay-refused' : 'relay-unreachable';
  } else if (remote.total === 0) cause = 'remote-unreachable';
  else if (local.relay > 0 && remote.relay === 0 && remote.srflx === 0) cause = 'remote-unreachable';
  else cause = 'checks-failed';
  const words = CAUSES[cause]({ name, Name, relay: Boolean(o.relayConfigured) });
  return { cause, ...words };
}

// What a tile says about how its media travels, and what is announced when it changes.
export function pathWords(selected, name = 'the other person') {
  if (!selected) return null;
  if (selected.path === 'relayed') {
    const over = selected.relayProtocol ? ` over ${selected.relayProtocol.toUpperCase()}` : '';
    return {
      path: 'relayed',
      label: 'Relayed',
      detail: `Your call with ${name} goes through the relay server${over}: a direct path was `
        + 'not possible or not allowed.',
      announce: `Connected to ${name} through the relay server.`,
    };
  }
  return {
    path: 'direct',
    label: 'Direct',
    detail: `Your call with ${name} goes straight between your browsers.`,
    announce: `Connected to ${name} directly.`,
  };
}
