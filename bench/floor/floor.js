// The floor client: the same 1:1 call as the product with nothing else around it.
// Media and the WebSocket start together; the newcomer offers as soon as it has both the
// peer list and its media; candidates trickle; no STUN/TURN (loopback host candidates).
const room = new URLSearchParams(location.search).get("room") || "floor";
const ws = new WebSocket(`ws://${location.host}/ws`);
// The product's own constraints (frontend/js/media.js), so both send the same video.
const media = navigator.mediaDevices.getUserMedia({
  video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
});
media.then((stream) => { document.getElementById("local").srcObject = stream; });
let pc = null;
let peer = null;

function send(msg) { ws.send(JSON.stringify(msg)); }

async function connect(to, iceServers) {
  peer = to;
  pc = new RTCPeerConnection({ iceServers });
  pc.onicecandidate = ({ candidate }) => {
    if (candidate) send({ action: "signal", to: peer, data: { candidate } });
  };
  pc.ontrack = ({ streams }) => { document.getElementById("remote").srcObject = streams[0]; };
  const stream = await media;
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
}

ws.onopen = () => send({ action: "join", room, name: "floor" });
// One message at a time, in arrival order (a candidate never overtakes its offer).
let chain = Promise.resolve();
ws.onmessage = ({ data }) => { chain = chain.then(() => handle(JSON.parse(data))).catch(console.error); };

async function handle(m) {
  if (m.type === "joined") {
    window.iceServers = m.iceServers;
    if (m.peers.length) {
      await connect(m.peers[0].id, m.iceServers);
      await pc.setLocalDescription();
      send({ action: "signal", to: peer, data: { description: pc.localDescription } });
    }
  } else if (m.type === "signal") {
    const { description, candidate } = m.data;
    if (description) {
      if (!pc) await connect(m.from, window.iceServers || []);
      await pc.setRemoteDescription(description);
      if (description.type === "offer") {
        await pc.setLocalDescription();
        send({ action: "signal", to: peer, data: { description: pc.localDescription } });
      }
    } else if (candidate) {
      if (!pc) await connect(m.from, window.iceServers || []);
      await pc.addIceCandidate(candidate);
    }
  } else if (m.type === "peer-left" && pc) {
    pc.close();
    pc = null;
  }
}
