import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nodeScrypt } from '../../src/cli/transfer-common.ts';
import { fromHex, toHex, utf8 } from '../../src/protocol/bytes.ts';
import { isProtocolError } from '../../src/protocol/errors.ts';
import {
  createCodeSpake2,
  FERRY_MHF,
  passwordToScalar,
  Spake2,
  spake2KeySchedule,
  spake2Share,
  spake2SharedPoint,
  spake2Transcript,
} from '../../src/protocol/spake2.ts';

// RFC 9382 Appendix B, SPAKE2-P256-SHA256-HKDF-HMAC, all four vectors (identities as given, AAD empty). Every
// output is chained from w, x and y, so a wrong M, N, transcript layout or key split fails here.
const VECTORS = [
  {
    A: 'server',
    B: 'client',
    w: '2ee57912099d31560b3a44b1184b9b4866e904c49d12ac5042c97dca461b1a5f',
    x: '43dd0fd7215bdcb482879fca3220c6a968e66d70b1356cac18bb26c84a78d729',
    pA: '04a56fa807caaa53a4d28dbb9853b9815c61a411118a6fe516a8798434751470f9010153ac33d0d5f2047ffdb1a3e42c9b4e6be662766e1eeb4116988ede5f912c',
    y: 'dcb60106f276b02606d8ef0a328c02e4b629f84f89786af5befb0bc75b6e66be',
    pB: '0406557e482bd03097ad0cbaa5df82115460d951e3451962f1eaf4367a420676d09857ccbc522686c83d1852abfa8ed6e4a1155cf8f1543ceca528afb591a1e0b7',
    K: '0412af7e89717850671913e6b469ace67bd90a4df8ce45c2af19010175e37eed69f75897996d539356e2fa6a406d528501f907e04d97515fbe83db277b715d3325',
    TT: '06000000000000007365727665720600000000000000636c69656e74410000000000000004a56fa807caaa53a4d28dbb9853b9815c61a411118a6fe516a8798434751470f9010153ac33d0d5f2047ffdb1a3e42c9b4e6be662766e1eeb4116988ede5f912c41000000000000000406557e482bd03097ad0cbaa5df82115460d951e3451962f1eaf4367a420676d09857ccbc522686c83d1852abfa8ed6e4a1155cf8f1543ceca528afb591a1e0b741000000000000000412af7e89717850671913e6b469ace67bd90a4df8ce45c2af19010175e37eed69f75897996d539356e2fa6a406d528501f907e04d97515fbe83db277b715d332520000000000000002ee57912099d31560b3a44b1184b9b4866e904c49d12ac5042c97dca461b1a5f',
    Ke: '0e0672dc86f8e45565d338b0540abe69',
    Ka: '15bdf72e2b35b5c9e5663168e960a91b',
    KcA: '00c12546835755c86d8c0db7851ae86f',
    KcB: 'a9fa3406c3b781b93d804485430ca27a',
    cA: '58ad4aa88e0b60d5061eb6b5dd93e80d9c4f00d127c65b3b35b1b5281fee38f0',
    cB: 'd3e2e547f1ae04f2dbdbf0fc4b79f8ecff2dff314b5d32fe9fcef2fb26dc459b',
  },
  {
    A: '',
    B: 'client',
    w: '0548d8729f730589e579b0475a582c1608138ddf7054b73b5381c7e883e2efae',
    x: '403abbe3b1b4b9ba17e3032849759d723939a27a27b9d921c500edde18ed654b',
    pA: '04a897b769e681c62ac1c2357319a3d363f610839c4477720d24cbe32f5fd85f44fb92ba966578c1b712be6962498834078262caa5b441ecfa9d4a9485720e918a',
    y: '903023b6598908936ea7c929bd761af6039577a9c3f9581064187c3049d87065',
    pB: '04e0f816fd1c35e22065d5556215c097e799390d16661c386e0ecc84593974a61b881a8c82327687d0501862970c64565560cb5671f696048050ca66ca5f8cc7fc',
    K: '048f83ec9f6e4f87cc6f9dc740bdc2769725f923364f01c84148c049a39a735ebda82eac03e00112fd6a5710682767cff5361f7e819e53d8d3c3a2922e0d837aa6',
    TT: undefined,
    Ke: '642f05c473c2cd79909f9a841e2f30a7',
    Ka: '0bf89b18180af97353ba198789c2b963',
    KcA: 'c6be376fc7cd1301fd0a13adf3e7bffd',
    KcB: 'b7243f4ae60440a49b3f8cab3c1fba07',
    cA: '47d29e6666af1b7dd450d571233085d7a9866e4d49d2645e2df975489521232b',
    cB: '3313c5cefc361d27fb16847a91c2a73b766ffa90a4839122a9b70a2f6bd1d6df',
  },
  {
    A: 'server',
    B: '',
    w: '626e0cdc7b14c9db3e52a0b1b3a768c98e37852d5db30febe0497b14eae8c254',
    x: '07adb3db6bc623d3399726bfdbfd3d15a58ea776ab8a308b00392621291f9633',
    pA: '04f88fb71c99bfffaea370966b7eb99cd4be0ff1a7d335caac4211c4afd855e2e15a873b298503ad8ba1d9cbb9a392d2ba309b48bfd7879aefd0f2cea6009763b0',
    y: 'b6a4fc8dbb629d4ba51d6f91ed1532cf87adec98f25dd153a75accafafedec16',
    pB: '040c269d6be017dccb15182ac6bfcd9e2a14de019dd587eaf4bdfd353f031101e7cca177f8eb362a6e83e7d5e729c0732e1b528879c086f39ba0f31a9661bd34db',
    K: '0445ee233b8ecb51ebd6e7da3f307e88a1616bae2166121221fdc0dadb986afaf3ec8a988dc9c626fa3b99f58a7ca7c9b844bb3e8dd9554aafc5b53813504c1cbe',
    TT: undefined,
    Ke: '005184ff460da2ce59062c87733c299c',
    Ka: '3521297d736598fc0a1127600efa1afb',
    KcA: 'f3da53604f0aeecea5a33be7bddf6edf',
    KcB: '9e3f86848736f159bd92b6e107ec6799',
    cA: 'bc9f9bbe99f26d0b2260e6456e05a86196a3307ec6663a18bf6ac825736533b2',
    cB: 'c2370e1bf813b086dff0d834e74425a06e6390f48f5411900276dcccc5a297ec',
  },
  {
    A: '',
    B: '',
    w: '7bf46c454b4c1b25799527d896508afd5fc62ef4ec59db1efb49113063d70cca',
    x: '8cef65df64bb2d0f83540c53632de911b5b24b3eab6cc74a97609fd659e95473',
    pA: '04a65b367a3f613cf9f0654b1b28a1e3a8a40387956c8ba6063e8658563890f46ca1ef6a676598889fc28de2950ab8120b79a5ef1ea4c9f44bc98f585634b46d66',
    y: 'd7a66f64074a84652d8d623a92e20c9675c61cb5b4f6a0063e4648a2fdc02d53',
    pB: '04589f13218822710d98d8b2123a079041052d9941b9cf88c6617ddb2fcc0494662eea8ba6b64692dc318250030c6af045cb738bc81ba35b043c3dcb46adf6f58d',
    K: '041a3c03d51b452537ca2a1fea6110353c6d5ed483c4f0f86f4492ca3f378d40a994b4477f93c64d928edbbcd3e85a7c709b7ea73ee97986ce3d1438e135543772',
    TT: undefined,
    Ke: 'fc6374762ba5cf11f4b2caa08b2cd1b9',
    Ka: '907ae0e26e8d6234318d91583cd74c86',
    KcA: '5dbd2f477166b7fb6d61febbd77a5563',
    KcB: '7689b4654407a5faeffdc8f18359d8a3',
    cA: 'dfb4db8d48ae5a675963ea5e6c19d98d4ea028d8e898dad96ea19a80ade95dca',
    cB: 'd0f0609d1613138d354f7e95f19fb556bf52d751947241e8c7118df5ef0ae175',
  },
];

const big = (hex: string): bigint => BigInt(`0x${hex}`);
// A cheap MHF for tests that only need two sides to agree; FERRY_MHF itself is exercised once below.
const FAST_MHF = { N: 2 ** 4, r: 8, p: 1, salt: 'test' };

describe('SPAKE2 — RFC 9382 Appendix B vectors (P256-SHA256-HKDF-HMAC)', () => {
  for (const [i, v] of VECTORS.entries()) {
    test(`vector ${i + 1}: A='${v.A}', B='${v.B}' — primitives`, () => {
      const w = big(v.w);
      assert.equal(toHex(spake2Share('A', w, big(v.x))), v.pA);
      assert.equal(toHex(spake2Share('B', w, big(v.y))), v.pB);
      assert.equal(toHex(spake2SharedPoint('A', w, big(v.x), fromHex(v.pB))), v.K);
      assert.equal(toHex(spake2SharedPoint('B', w, big(v.y), fromHex(v.pA))), v.K);
      const TT = spake2Transcript(utf8.encode(v.A), utf8.encode(v.B), fromHex(v.pA), fromHex(v.pB), fromHex(v.K), w);
      if (v.TT !== undefined) assert.equal(toHex(TT), v.TT);
      const s = spake2KeySchedule(TT);
      assert.equal(toHex(s.Ke), v.Ke);
      assert.equal(toHex(s.Ka), v.Ka);
      assert.equal(toHex(s.KcA), v.KcA);
      assert.equal(toHex(s.KcB), v.KcB);
      assert.equal(toHex(s.confirmA), v.cA);
      assert.equal(toHex(s.confirmB), v.cB);
    });

    test(`vector ${i + 1} — through the message API`, () => {
      const opts = { idA: utf8.encode(v.A), idB: utf8.encode(v.B) };
      const a = new Spake2('A', big(v.w), { ...opts, scalar: big(v.x) });
      const b = new Spake2('B', big(v.w), { ...opts, scalar: big(v.y) });
      const msgA = a.start();
      const msgB = b.start();
      assert.equal(toHex(msgA), v.pA);
      assert.equal(toHex(msgB), v.pB);
      const { confirm: cA } = a.finish(msgB);
      const { confirm: cB } = b.finish(msgA);
      assert.equal(toHex(cA), v.cA);
      assert.equal(toHex(cB), v.cB);
      assert.equal(toHex(a.verify(cB)), v.Ke);
      assert.equal(toHex(b.verify(cA)), v.Ke);
    });
  }
});

async function run(codeA: string, codeB: string) {
  const a = await createCodeSpake2('sender', codeA, FAST_MHF);
  const b = await createCodeSpake2('receiver', codeB, FAST_MHF);
  const msgA = a.start();
  const msgB = b.start();
  const { confirm: cA } = a.finish(msgB);
  const { confirm: cB } = b.finish(msgA);
  return { a, b, cA, cB };
}

describe('SPAKE2 — Ferry runs', () => {
  test('same code: both sides confirm and get the same 16-byte key', async () => {
    const { a, b, cA, cB } = await run('7-orbit-frozen', ' 7 Orbit  FROZEN ');
    const keyA = a.verify(cB);
    const keyB = b.verify(cA);
    assert.equal(keyA.length, 16);
    assert.deepEqual(keyA, keyB);
  });

  test('fresh ephemeral scalars: two runs with one code give different keys', async () => {
    const one = await run('7-orbit-frozen', '7-orbit-frozen');
    const two = await run('7-orbit-frozen', '7-orbit-frozen');
    assert.notDeepEqual(one.a.verify(one.cB), two.a.verify(two.cB));
  });

  test('wrong code: the sender fails with WRONG_CODE', async () => {
    const { a, cB } = await run('7-orbit-frozen', '7-orbit-frost');
    assert.throws(
      () => a.verify(cB),
      (e) => isProtocolError(e, 'WRONG_CODE') && /^wrong code/.test(e.message),
    );
  });

  test('wrong code: the receiver fails with the same WRONG_CODE message', async () => {
    const { a, b, cA, cB } = await run('8-orbit-frozen', '7-orbit-frozen');
    const caught = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (error) {
        return error;
      }
      assert.fail('expected a throw');
    };
    const errorB = caught(() => b.verify(cA));
    const errorA = caught(() => a.verify(cB));
    assert.ok(isProtocolError(errorA, 'WRONG_CODE') && isProtocolError(errorB, 'WRONG_CODE'));
    assert.equal(errorA.message, errorB.message, 'both sides say exactly the same thing');
  });

  test('a tampered confirmation, or one of the wrong length, is WRONG_CODE', async () => {
    const { a, b, cA, cB } = await run('7-orbit-frozen', '7-orbit-frozen');
    const flipped = cB.slice();
    flipped[0] = (flipped[0] as number) ^ 1;
    assert.throws(
      () => a.verify(flipped),
      (e) => isProtocolError(e, 'WRONG_CODE'),
    );
    assert.throws(
      () => b.verify(cA.subarray(0, 31)),
      (e) => isProtocolError(e, 'WRONG_CODE'),
    );
  });

  test('a role mix-up (both sides A) cannot confirm', async () => {
    const w = await passwordToScalar('7-orbit-frozen', FAST_MHF);
    const a1 = new Spake2('A', w);
    const a2 = new Spake2('A', w);
    const m1 = a1.start();
    const m2 = a2.start();
    const c1 = a1.finish(m2).confirm;
    a2.finish(m1);
    assert.throws(
      () => a1.verify(c1),
      (e) => isProtocolError(e, 'WRONG_CODE'),
    );
  });

  test('malformed or off-curve shares are SPAKE2_BAD_MESSAGE, not WRONG_CODE', async () => {
    const w = await passwordToScalar('7-orbit-frozen', FAST_MHF);
    const bad = [new Uint8Array(0), new Uint8Array(64), new Uint8Array(65), Uint8Array.of(4, ...new Uint8Array(64))];
    const offCurve = new Uint8Array(65);
    offCurve[0] = 4;
    offCurve[64] = 1;
    bad.push(offCurve);
    for (const msg of bad) {
      const a = new Spake2('A', w);
      a.start();
      assert.throws(
        () => a.finish(msg),
        (e) => isProtocolError(e, 'SPAKE2_BAD_MESSAGE'),
      );
    }
  });

  test('a share that unmasks to the identity (pB = w*N) is rejected', async () => {
    const w = 12345n;
    const a = new Spake2('A', w);
    a.start();
    // w*N is what B sends when y = 0; K would be the identity.
    const { p256 } = await import('@noble/curves/nist.js');
    const N = p256.Point.fromHex('03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49');
    assert.throws(
      () => a.finish(N.multiply(w).toBytes(false)),
      (e) => isProtocolError(e, 'SPAKE2_BAD_MESSAGE'),
    );
  });

  test('methods out of order are SPAKE2_STATE; a failed run stays failed', async () => {
    const { a, cB } = await run('7-orbit-frozen', '7-orbit-frozen');
    assert.throws(
      () => a.start(),
      (e) => isProtocolError(e, 'SPAKE2_STATE'),
    );
    const bad = cB.slice();
    bad[5] = (bad[5] as number) ^ 0x80;
    assert.throws(
      () => a.verify(bad),
      (e) => isProtocolError(e, 'WRONG_CODE'),
    );
    assert.throws(
      () => a.verify(cB),
      (e) => isProtocolError(e, 'SPAKE2_STATE'),
    );
    const fresh = new Spake2('B', 5n);
    assert.throws(
      () => fresh.finish(new Uint8Array(65)),
      (e) => isProtocolError(e, 'SPAKE2_STATE'),
    );
  });

  test('an invalid code is refused before any work (CODE_*)', async () => {
    await assert.rejects(createCodeSpake2('sender', '7-orbit', FAST_MHF), (e) => isProtocolError(e, 'CODE_FORMAT'));
  });

  test('w = scrypt(code) mod p is deterministic, code-sensitive and in range (Ferry parameters)', async () => {
    const started = performance.now();
    const w1 = await passwordToScalar('7-orbit-frozen');
    const elapsed = performance.now() - started;
    const w2 = await passwordToScalar('7-orbit-frozen');
    const w3 = await passwordToScalar('7-orbit-frost');
    assert.equal(w1, w2);
    assert.notEqual(w1, w3);
    assert.ok(w1 > 0n && w1 < 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n);
    assert.ok(elapsed < 5000, `scrypt took ${elapsed} ms`);
  });

  test("the CLI's native scrypt (node:crypto) gives the same w as the isomorphic one", async () => {
    for (const code of ['7-orbit-frozen', '123456-zoo-abandon']) {
      assert.equal(await passwordToScalar(code, FERRY_MHF, nodeScrypt), await passwordToScalar(code));
    }
  });
});
