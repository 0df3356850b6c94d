// Browser side of the Chromium tests, loaded into the test page as a script: plain JavaScript with the browser's own
// RTCPeerConnection and WebSocket, speaking Ferry's signaling protocol (docs/signaling.md) as any web client would.

/** Candidates an offer gathers with `iceServers`, until the end of candidates or `timeoutMs`. */
window.gatherCandidates = async (iceServers, timeoutMs) => {
  const pc = new RTCPeerConnection({ iceServers });
  pc.createDataChannel('probe');
  const lines = [];
  const done = new Promise((resolve) => {
    pc.onicecandidate = (event) => {
      if (event.candidate?.candidate) lines.push(event.candidate.candidate);
      else if (!event.candidate) resolve();
    };
  });
  await pc.setLocalDescription(await pc.createOffer());
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  pc.close();
  return lines;
};

/**
 * Register with the hub at `wsUrl`, take the ICE servers of its welcome, dial `target` with `policy`
 * (iceTransportPolicy), send `text` on a data channel and wait for one message back. Resolves with what came
 * back, the ICE servers, and the selected candidate pair as getStats() reports it (RTCStats, W3C webrtc-stats).
 */
window.dialThroughFerry = (wsUrl, target, policy, text, timeoutMs) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no reply within ${timeoutMs} ms; ${log.join('; ')}`)), timeoutMs);
    const log = [];
    const ws = new WebSocket(wsUrl);
    let pc;
    const finish = (result) => {
      clearTimeout(timer);
      pc?.close();
      ws.close();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const send = (message) => ws.send(JSON.stringify(message));
    ws.onopen = () => send({ type: 'hello', versions: [1] });
    ws.onerror = () => finish(new Error('signaling WebSocket failed'));
    // One message at a time: a candidate must not be added while the answer is still being applied.
    let queue = Promise.resolve();
    ws.onmessage = (event) => {
      queue = queue.then(() => handle(JSON.parse(event.data)));
    };
    const handle = async (message) => {
      log.push(message.type);
      try {
        if (message.type === 'welcome') {
          pc = new RTCPeerConnection({ iceServers: message.iceServers, iceTransportPolicy: policy });
          pc.onconnectionstatechange = () => log.push(`pc ${pc.connectionState}`);
          pc.onicecandidate = (e) => {
            if (e.candidate) send({ type: 'candidate', to: target, candidate: e.candidate.toJSON() });
            else send({ type: 'end-of-candidates', to: target });
          };
          const channel = pc.createDataChannel('chat');
          channel.onopen = () => channel.send(text);
          channel.onmessage = async (reply) => {
            const stats = await pc.getStats();
            const byId = new Map([...stats.values()].map((s) => [s.id, s]));
            const transport = [...stats.values()].find((s) => s.type === 'transport');
            const pair = byId.get(transport?.selectedCandidatePairId);
            const end = (id) => {
              const c = byId.get(id);
              return c && { type: c.candidateType, protocol: c.protocol, address: c.address, port: c.port };
            };
            finish({
              reply: reply.data,
              iceServers: message.iceServers,
              pair: pair && { local: end(pair.localCandidateId), remote: end(pair.remoteCandidateId) },
            });
          };
          await pc.setLocalDescription(await pc.createOffer());
          send({ type: 'offer', to: target, sdp: pc.localDescription.sdp });
        } else if (message.type === 'answer') {
          await pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        } else if (message.type === 'candidate') {
          await pc.addIceCandidate(message.candidate);
        } else if (message.type === 'error') {
          finish(new Error(`hub: ${message.code}: ${message.message}`));
        }
      } catch (err) {
        finish(err);
      }
    };
  });
