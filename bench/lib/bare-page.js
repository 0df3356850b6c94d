// Browser side of the bare data-channel baseline (bench/web-code.ts), loaded into a page as a script: one
// RTCPeerConnection, non-trickle (each SDP carries its candidates), a sender that reads a picked File in 64 KiB
// messages with the web app's watermarks, and a receiver that only counts bytes.

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
