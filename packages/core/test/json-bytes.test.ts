import t from 'tap';
import { copyPlainJsonBytes } from '../src/json-bytes.js';

/** The rule, stated once and byte by byte: the byte is its own character in a JSON string. */
const plainByRule = (byte: number): boolean => byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c;
t.test('the byte rule is what JSON.stringify leaves as it is, and what a one-byte line copies', async (t) => {
  let wrong = 0;
  const dst = Buffer.alloc(4);
  for (let byte = 0; byte < 256; byte++) {
    const asText = String.fromCharCode(byte);
    const ownCharacter = byte < 0x80 && JSON.stringify(asText) === `"${asText}"`;
    // DEL is its own JSON character but is treated as not plain (a control character to log readers).
    const expected = ownCharacter && byte !== 0x7f;
    const copied = copyPlainJsonBytes(Buffer.from([byte]), 0, 1, dst, 0) === 1;
    if (copied !== expected || plainByRule(byte) !== expected) wrong++;
  }
  t.equal(wrong, 0);
});

t.test('copies plain bytes at any offset and length, refuses a line with any other byte anywhere', async (t) => {
  const dst = Buffer.alloc(64);
  let checked = 0;
  let wrong = 0;
  // Every byte value at every position of lines of 1..11 bytes, at source and destination offsets
  // 0..3 (the four-byte loads see every alignment and every tail length).
  for (let length = 1; length <= 11; length++) {
    for (let offset = 0; offset < 4; offset++) {
      for (let pos = 0; pos < length; pos++) {
        for (let byte = 0; byte < 256; byte++) {
          const src = Buffer.alloc(offset + length + 3, 0x41);
          src[offset + pos] = byte;
          dst.fill(0);
          const at = 5 + offset;
          const end = copyPlainJsonBytes(src, offset, offset + length, dst, at);
          checked++;
          if (plainByRule(byte)) {
            if (end !== at + length || !dst.subarray(at, end).equals(src.subarray(offset, offset + length)) || dst[at - 1] !== 0 || dst[end] !== 0) wrong++;
          } else if (end !== -1) wrong++;
        }
      }
    }
  }
  t.equal(checked, 66 * 4 * 256);
  t.equal(wrong, 0, 'every case copies exactly the line or answers -1');
});

t.test('random lines agree with the byte rule', async (t) => {
  // Lines mostly of plain bytes with a few others mixed in (the SWAR check looks at four at once;
  // borrows between bytes must not hide or invent a hit).
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  const dst = Buffer.alloc(512);
  let wrong = 0;
  for (let n = 0; n < 20_000; n++) {
    const length = 1 + Math.floor(random() * 200);
    const src = Buffer.alloc(length);
    for (let i = 0; i < length; i++) src[i] = random() < 0.995 ? 0x20 + Math.floor(random() * 95) : Math.floor(random() * 256);
    const expectPlain = [...src].every(plainByRule);
    const end = copyPlainJsonBytes(src, 0, length, dst, 7);
    if (expectPlain ? end !== 7 + length || !dst.subarray(7, end).equals(src) : end !== -1) wrong++;
  }
  t.equal(wrong, 0);
});

t.test('several buffers in turn (cached views follow the buffer)', async (t) => {
  const a = Buffer.from('first line');
  const b = Buffer.from('second "line"');
  const c = Buffer.from('third');
  const out1 = Buffer.alloc(32);
  const out2 = Buffer.alloc(32);
  t.equal(copyPlainJsonBytes(a, 0, a.length, out1, 0), a.length);
  t.equal(copyPlainJsonBytes(b, 0, 6, out2, 0), 6, 'the plain start of b');
  t.equal(copyPlainJsonBytes(b, 0, b.length, out2, 0), -1, 'b has quotes');
  t.equal(copyPlainJsonBytes(c, 0, c.length, out1, a.length), a.length + c.length);
  t.equal(out1.subarray(0, a.length + c.length).toString(), 'first linethird');
  t.equal(out2.subarray(0, 6).toString(), 'second');
});
