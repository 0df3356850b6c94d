// Browser side of the bare data-channel baseline (bench/web-code.ts), loaded into a page as a script: one
// RTCPeerConnection, non-trickle (each SDP carries its candidates), a sender that reads a picked File in 64 KiB
// messages with the web app's watermarks, a receiver that only counts bytes, and one that does the work a Ferry page
// must do with them and nothing else: it hands every message's buffer to the app's service worker (about 1 MiB of
// messages per post, as the Code screen does), which hashes it and saves it as a download, and asks for the digest.

const pc = new RTCPeerConnection();
let channel;

const gathered = () =>
  new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });

const input = document.createElement('input');
input.type = 'file';
input.id = 'bench-file';
document.body.append(input);

window.bareOffer = async () => {
  channel = pc.createDataChannel('bench');
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  return pc.localDescription.sdp;
};

window.bareAnswer = async (sdp) => {
  await pc.setRemoteDescription({ type: 'offer', sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered();
  return pc.localDescription.sdp;
};

window.bareApply = async (message) => {
  if (message.kind === 'description') await pc.setRemoteDescription({ type: message.type, sdp: message.sdp });
  else if (message.kind === 'candidate')
    await pc.addIceCandidate({ candidate: message.candidate, sdpMid: message.mid });
};

window.bareReceive = (total) =>
  new Promise((resolve) => {
    pc.addEventListener('datachannel', (event) => {
      const incoming = event.channel;
      incoming.binaryType = 'arraybuffer';
      let bytes = 0;
      let started = 0;
      incoming.addEventListener('message', ({ data }) => {
        if (started === 0) started = performance.now();
        bytes += data.byteLength;
        if (bytes >= total) resolve({ ms: performance.now() - started, bytes });
      });
    });
  });

window.bareSendFile = async () => {
  const file = input.files[0];
  if (channel.readyState !== 'open') await new Promise((resolve) => channel.addEventListener('open', resolve));
  channel.bufferedAmountLowThreshold = 2 * 1024 * 1024;
  const reader = file.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    for (let at = 0; at < value.length; at += 65536) {
      channel.send(value.subarray(at, at + 65536));
      if (channel.bufferedAmount > 4 * 1024 * 1024) {
        await new Promise((resolve) => {
          channel.onbufferedamountlow = resolve;
        });
      }
    }
  }
};

/** Receives `total` bytes into a hashed download through the app's service worker (web/sw/sw.ts's port protocol). */
window.bareReceiveSaved = async (total) => {
  const ports = new MessageChannel();
  const port = ports.port1;
  // Listening first: the channel may open while the download is being set up (the port keeps what is posted).
  const received = new Promise((resolve) => {
    pc.addEventListener('datachannel', (event) => {
      const incoming = event.channel;
      incoming.binaryType = 'arraybuffer';
      let bytes = 0;
      let started = 0;
      let batch = [];
      let batchBytes = 0;
      const post = () => {
        port.postMessage(
          { type: 'chunks', chunks: batch },
          batch.map((chunk) => chunk.buffer),
        );
        batch = [];
        batchBytes = 0;
      };
      incoming.addEventListener('message', ({ data }) => {
        if (started === 0) started = performance.now();
        bytes += data.byteLength;
        batch.push(new Uint8Array(data));
        batchBytes += data.byteLength;
        if (batchBytes >= 1024 * 1024) post();
        if (bytes < total) return;
        if (batch.length > 0) post();
        resolve({ started, bytes });
      });
    });
  });
  const answers = [];
  let answered;
  port.onmessage = ({ data }) => {
    if (data.type === 'saved' || data.type === 'alive') return;
    answers.push(data);
    answered?.();
  };
  const answer = async (type) => {
    for (;;) {
      const found = answers.findIndex((a) => a.type === type);
      if (found >= 0) return answers.splice(found, 1)[0];
      await new Promise((resolve) => {
        answered = resolve;
      });
    }
  };
  // The app registers its worker as it starts: wait for it to be active.
  let registration;
  for (let tries = 0; !registration?.active; tries++) {
    if (tries === 100) throw new Error('the service worker did not start');
    registration = await navigator.serviceWorker.getRegistration('/_/app/dl/');
    if (!registration?.active) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const id = crypto.randomUUID();
  registration.active.postMessage({ type: 'download', id, name: 'bare.bin', size: total, hash: true }, [ports.port2]);
  await answer('ready');
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = `/_/app/dl/${id}`;
  document.body.append(frame);
  const { started, bytes } = await received;
  port.postMessage({ type: 'digest' });
  const { hex } = await answer('digest');
  port.postMessage({ type: 'end' });
  await answer('closed');
  return { ms: performance.now() - started, bytes, sha256: hex };
};
