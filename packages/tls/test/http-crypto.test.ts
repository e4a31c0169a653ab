/** The crypto primitives (CryptoService) against published test vectors. */
import t from 'tap';
import { cryptoPrimitives, hmacSha256, Sha256, sha256Hex } from '../src/crypto.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

t.test('SHA-256 matches the FIPS 180-2 vectors', async (t) => {
  t.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  t.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const hash = new Sha256();
  hash.update('abcdbcdecdefdefgefghfghighij');
  hash.update(new TextEncoder().encode('hijkijkljklmklmnlmnomnopnopq'));
  t.equal(hex(await hash.digest()), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  t.equal(hex(await hash.digest()), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1', 'digest can be read twice');
  t.throws(() => hash.update('x'), /reset/, 'update after digest is a bug');
  hash.reset();
  hash.update('abc');
  t.equal(hex(await hash.digest()), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'reset starts over');
});

t.test('HMAC-SHA-256 matches RFC 4231', async (t) => {
  // Test case 2.
  t.equal(hmacSha256('Jefe', 'what do ya want for nothing?').toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  // Test case 1, keyed with bytes, through the Checksum shape.
  const mac = new Sha256(new Uint8Array(20).fill(0x0b));
  mac.update('Hi There');
  t.equal(hex(await mac.digest()), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
  mac.reset();
  mac.update('Hi There');
  t.equal(hex(await mac.digest()), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7', 'reset keeps the key');
});

t.test('byte views are hashed over their own range only', async (t) => {
  const backing = new TextEncoder().encode('xxabcxx');
  const view = backing.subarray(2, 5);
  t.equal(sha256Hex(view), sha256Hex('abc'));
  const hash = new Sha256();
  hash.update(view);
  t.equal(hex(await hash.digest()), sha256Hex('abc'));
  t.equal(hmacSha256(backing.subarray(0, 4), 'data').toString('hex'), hmacSha256('xxab', 'data').toString('hex'));
  t.equal(cryptoPrimitives.Sha256, Sha256);
  t.ok(Object.isFrozen(cryptoPrimitives));
});
