// frontend/js/diagnosis.js under Node: `node --test tests/frontend/`.
// The browser tests (tests/e2e/test_diagnosis.py, test_blocked_networks.py) produce each cause
// for real; these pin the decision table, one concern per test.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  callObservations,
  candidatesInSdp,
  checkSettled,
  countTypes,
  diagnoseCall,
  judgeNetwork,
  parseCandidate,
  pathWords,
  relayConfigured,
  selectedPath,
  stunConfigured,
} from '../../frontend/js/diagnosis.js';

const HOST = { type: 'host', protocol: 'udp' };
const HOST_TCP = { type: 'host', protocol: 'tcp' };
const SRFLX = { type: 'srflx', protocol: 'udp' };
const RELAY_UDP = { type: 'relay', protocol: 'udp', relayProtocol: 'udp' };
const RELAY_TCP = { type: 'relay', protocol: 'udp', relayProtocol: 'tcp' };
const TURN = [{ urls: ['turn:10.0.0.1:3478?transport=udp', 'turn:10.0.0.1:3478?transport=tcp'],
  username: '1:x', credential: 'c' }];

function counts(...candidates) {
  return countTypes(candidates);
}

function observations(changes = {}) {
  return {
    name: 'Bo',
    signalingUp: true,
    answered: true,
    wasConnected: false,
    relayConfigured: true,
    policy: 'all',
    local: counts(HOST, RELAY_UDP),
    remote: counts(HOST, RELAY_UDP),
    errors: [],
    ...changes,
  };
}

// ---- parsing ----------------------------------------------------------------------------
test('a candidate line gives its type and protocol, with or without a=', () => {
  const relay = 'candidate:2220708259 1 udp 25108479 10.231.1.1 64563 typ relay raddr 10.231.1.2 '
    + 'rport 49642 generation 0';
  assert.deepEqual(parseCandidate(relay), { type: 'relay', protocol: 'udp' });
  assert.deepEqual(parseCandidate(`a=${relay}`), { type: 'relay', protocol: 'udp' });
  assert.deepEqual(parseCandidate('candidate:1 1 TCP 1518280447 10.0.0.2 9 typ host tcptype active'),
    { type: 'host', protocol: 'tcp' });
  assert.equal(parseCandidate(''), null);
  assert.equal(parseCandidate('candidate:1 1 udp 1 10.0.0.2 9 typ bogus'), null);
  assert.equal(parseCandidate(null), null);
});

test('the candidates of an SDP are its a=candidate lines', () => {
  const sdp = ['v=0', 'a=candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host',
    'a=candidate:2 1 udp 25108479 10.0.0.1 6000 typ relay raddr 0.0.0.0 rport 0',
    'a=end-of-candidates', ''].join('\r\n');
  assert.deepEqual(candidatesInSdp(sdp).map((c) => c.type), ['host', 'relay']);
  assert.deepEqual(candidatesInSdp(null), []);
});

test('TURN and STUN are told apart in iceServers, urls a string or a list', () => {
  assert.equal(relayConfigured(TURN), true);
  assert.equal(relayConfigured([{ urls: 'turns:relay.example:443?transport=tcp' }]), true);
  assert.equal(relayConfigured([{ urls: 'stun:stun.example:3478' }]), false);
  assert.equal(relayConfigured([]), false);
  assert.equal(relayConfigured(undefined), false);
  assert.equal(stunConfigured([{ urls: 'stun:stun.example:3478' }]), true);
  assert.equal(stunConfigured(TURN), false);
});

// ---- the check while waiting --------------------------------------------------------------
test('a relay over UDP: direct calls are possible', () => {
  const verdict = judgeNetwork({ relayConfigured: true, candidates: [HOST, RELAY_UDP, RELAY_TCP] });
  assert.equal(verdict.verdict, 'direct');
  assert.equal(verdict.title, 'Direct calls possible');
});

test('only a relay over TCP (UDP blocked): calls will be relayed', () => {
  const verdict = judgeNetwork({ relayConfigured: true, candidates: [HOST, HOST_TCP, RELAY_TCP] });
  assert.equal(verdict.verdict, 'relayed');
  assert.equal(verdict.title, 'Calls will be relayed (your network blocks direct connections)');
  assert.match(verdict.advice, /over TCP/);
});

test('a relay over TCP beside a server-reflexive address: UDP gets out, direct is possible', () => {
  assert.equal(judgeNetwork({ relayConfigured: true, candidates: [SRFLX, RELAY_TCP] }).verdict,
    'direct');
});

test('no relay candidate and a 401: the relay refused our credentials', () => {
  const verdict = judgeNetwork({ relayConfigured: true, candidates: [HOST],
    errors: [{ code: 401, url: 'turn:10.0.0.1:3478?transport=udp' }] });
  assert.equal(verdict.verdict, 'relay-refused');
  assert.equal(verdict.title, 'Relay refused our credentials');
  assert.match(verdict.advice, /Reload the page/);
});

test('no relay candidate and no 401: the relay is unreachable', () => {
  const verdict = judgeNetwork({ relayConfigured: true, candidates: [HOST, HOST_TCP],
    errors: [{ code: 701, url: 'turn:10.0.0.1:3478?transport=udp' }] });
  assert.equal(verdict.verdict, 'relay-unreachable');
  assert.equal(verdict.title, 'Relay unreachable: calls to people on other networks may fail');
  assert.match(verdict.advice, /another network/);
});

test('a relay-only room with a working relay: relayed by design, not because of the network', () => {
  const verdict = judgeNetwork({ relayConfigured: true, policy: 'relay', candidates: [RELAY_TCP] });
  assert.equal(verdict.verdict, 'relay-policy');
  assert.equal(verdict.title, 'Calls will be relayed');
});

test('no relay configured: direct calls possible, with a word about the missing relay', () => {
  const verdict = judgeNetwork({ relayConfigured: false, candidates: [HOST] });
  assert.equal(verdict.verdict, 'direct-no-relay');
  assert.equal(verdict.title, 'Direct calls possible');
  assert.match(verdict.advice, /no relay server/);
});

test('a STUN server that never answers and no relay: this network blocks direct calls', () => {
  const verdict = judgeNetwork({ stunConfigured: true, candidates: [HOST] });
  assert.equal(verdict.verdict, 'blocked');
  assert.equal(judgeNetwork({ stunConfigured: true, candidates: [HOST, SRFLX] }).verdict,
    'direct-no-relay');
});

test('no candidate at all: no network', () => {
  assert.equal(judgeNetwork({ relayConfigured: true, candidates: [] }).verdict, 'offline');
  assert.equal(judgeNetwork({ candidates: [] }).verdict, 'offline');
});

test('the check may stop early once a relay over UDP is in', () => {
  assert.equal(checkSettled({ candidates: [HOST, RELAY_TCP] }), false);
  assert.equal(checkSettled({ candidates: [HOST, RELAY_UDP] }), true);
});

// ---- a connection that failed --------------------------------------------------------------
test('our socket to the server is dead: signaling lost, whatever else was seen', () => {
  const why = diagnoseCall(observations({ signalingUp: false, local: counts(HOST) }));
  assert.equal(why.cause, 'signaling-lost');
  assert.equal(why.title, 'Lost the connection to the server');
});

test('their description never arrived: no answer from them', () => {
  const why = diagnoseCall(observations({ answered: false, remote: counts() }));
  assert.equal(why.cause, 'no-answer');
  assert.equal(why.title, 'No answer from Bo');
  assert.match(why.advice, /^Bo's reply never arrived/);
});

test('a call that had worked and stopped: lost, not a setup problem', () => {
  assert.equal(diagnoseCall(observations({ wasConnected: true })).cause, 'path-lost');
});

test('no relay gathered and a 401 seen: the relay refused our credentials', () => {
  const why = diagnoseCall(observations({ local: counts(HOST),
    errors: [{ code: 401, url: 'turn:x' }] }));
  assert.equal(why.cause, 'relay-refused');
  assert.equal(why.title, 'The relay server refused our credentials');
});

test('no relay gathered, no 401: our network blocks the relay', () => {
  const why = diagnoseCall(observations({ local: counts(HOST, HOST_TCP),
    errors: [{ code: 701, url: 'turn:x' }] }));
  assert.equal(why.cause, 'relay-unreachable');
  assert.equal(why.title, 'Your network blocks the relay server');
  assert.match(why.advice, /No direct path to Bo worked/);
});

test('they sent no candidate: their network cannot be reached', () => {
  const why = diagnoseCall(observations({ local: counts(RELAY_UDP), remote: counts() }));
  assert.equal(why.cause, 'remote-unreachable');
  assert.equal(why.title, "Bo's network cannot be reached");
});

test('we have a relay, they have only local addresses: their relay failed, their network', () => {
  const why = diagnoseCall(observations({ remote: counts(HOST, HOST_TCP) }));
  assert.equal(why.cause, 'remote-unreachable');
});

test('candidates on both sides and every check failed: no path worked', () => {
  const why = diagnoseCall(observations());
  assert.equal(why.cause, 'checks-failed');
  assert.equal(why.title, 'No path between you and Bo worked');
  assert.match(why.advice, /the relay server included/);
  const bare = diagnoseCall(observations({ relayConfigured: false, local: counts(HOST),
    remote: counts(HOST) }));
  assert.equal(bare.cause, 'checks-failed');
  assert.match(bare.advice, /no relay server to fall back on/);
});

test('without a name the words still read: the other person', () => {
  const why = diagnoseCall(observations({ name: null, answered: false }));
  assert.equal(why.title, 'No answer from the other person');
  assert.match(why.advice, /^The other person's reply/);
});

test('a name is kept as it is, never turned into markup or changed', () => {
  const name = '<img src=x onerror=alert(1)>';
  const why = diagnoseCall(observations({ name, remote: counts() }));
  assert.equal(why.title, `${name}'s network cannot be reached`);
});

test('callObservations reads local candidates from stats and remote ones from the SDP', () => {
  const report = {
    stats: [
      { id: 'L1', type: 'local-candidate', candidateType: 'host', protocol: 'udp' },
      { id: 'L2', type: 'local-candidate', candidateType: 'relay', protocol: 'udp',
        relayProtocol: 'tcp' },
    ],
    remoteSdp: 'v=0\r\na=candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host\r\n',
    errors: [{ code: 701, url: 'turn:x', text: 'timeout' }],
  };
  const o = callObservations(report, { name: 'Bo', signalingUp: true, relayConfigured: true });
  assert.deepEqual([o.local.host, o.local.relay, o.remote.host, o.remote.total], [1, 1, 1, 1]);
  assert.equal(o.answered, true);
  assert.deepEqual(o.errors, [{ code: 701, url: 'turn:x' }]);
  const none = callObservations({ stats: [], remoteSdp: null, errors: [] }, {});
  assert.equal(none.answered, false);
  assert.equal(none.remote.total, 0);
});

// ---- direct or relayed ---------------------------------------------------------------------
function stats({ local, remote, relayProtocol = null, viaTransport = true }) {
  return [
    { id: 'T', type: 'transport', selectedCandidatePairId: viaTransport ? 'P' : undefined },
    { id: 'P', type: 'candidate-pair', state: 'succeeded', nominated: true,
      localCandidateId: 'L', remoteCandidateId: 'R' },
    { id: 'X', type: 'candidate-pair', state: 'failed', nominated: false,
      localCandidateId: 'L', remoteCandidateId: 'R' },
    { id: 'L', type: 'local-candidate', candidateType: local, relayProtocol },
    { id: 'R', type: 'remote-candidate', candidateType: remote },
  ];
}

test('the selected pair: relayed if either end is a relay candidate', () => {
  assert.equal(selectedPath(stats({ local: 'host', remote: 'host' })).path, 'direct');
  assert.equal(selectedPath(stats({ local: 'srflx', remote: 'prflx' })).path, 'direct');
  assert.equal(selectedPath(stats({ local: 'host', remote: 'relay' })).path, 'relayed');
  const tcp = selectedPath(stats({ local: 'relay', remote: 'relay', relayProtocol: 'tcp' }));
  assert.deepEqual(tcp, { path: 'relayed', local: 'relay', remote: 'relay', relayProtocol: 'tcp' });
});

test('without a transport entry, the nominated pair that succeeded; none: unknown', () => {
  assert.equal(selectedPath(stats({ local: 'relay', remote: 'host', viaTransport: false })).path,
    'relayed');
  assert.equal(selectedPath([]), null);
  assert.equal(selectedPath(new Map(stats({ local: 'host', remote: 'host' }).map((s) => [s.id, s])))
    .path, 'direct');
});

test('the tile words for each path', () => {
  const relayed = pathWords({ path: 'relayed', local: 'relay', remote: 'relay', relayProtocol: 'tcp' },
    'Bo');
  assert.equal(relayed.label, 'Relayed');
  assert.match(relayed.detail, /relay server over TCP/);
  assert.equal(relayed.announce, 'Connected to Bo through the relay server.');
  assert.equal(pathWords({ path: 'direct' }, 'Bo').label, 'Direct');
  assert.equal(pathWords(null, 'Bo'), null);
});
