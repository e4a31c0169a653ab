import t from 'tap';
import { LineFramer, lineText } from '../src/line-framer.js';

function framer(maxRecordBytes = 1024) {
  const out: { text: string; time: number }[] = [];
  const f = new LineFramer({
    maxRecordBytes,
    emit: (block) => {
      for (let i = 0; i < block.count; i++) out.push({ text: lineText(block, i), time: block.time });
    },
  });
  return { f, out, texts: () => out.map((r) => r.text) };
}

t.test('complete lines, empty lines and CRLF', async (t) => {
  const { f, out, texts } = framer();
  f.push(Buffer.from('one\ntwo\n\nfour\r\n'), 5);
  t.same(texts(), ['one', 'two', '', 'four\r'], 'empty lines are records; CR is kept as-is');
  t.same(
    out.map((r) => r.time),
    [5, 5, 5, 5],
  );
  t.equal(f.pendingBytes, 0);
  f.push(Buffer.from('\n'), 6);
  t.same(texts().slice(4), [''], 'a lone newline is an empty line');
  f.flush();
  t.equal(out.length, 5, 'flush with nothing pending emits nothing');
});

t.test('partial lines across chunks keep the time they started', async (t) => {
  const { f, out, texts } = framer();
  f.push(Buffer.from('hel'), 10);
  t.equal(f.pendingBytes, 3);
  t.equal(f.pendingSince, 10);
  t.same(out, []);
  f.push(Buffer.from('lo wo'), 20);
  t.equal(f.pendingSince, 10);
  f.push(Buffer.from('rld\nnext'), 30);
  t.same(out, [{ text: 'hello world', time: 10 }]);
  t.equal(f.pendingBytes, 4);
  t.equal(f.pendingSince, 30);
  f.push(Buffer.from('\na\nb\n'), 40);
  t.same(out.slice(1), [
    { text: 'next', time: 30 },
    { text: 'a', time: 40 },
    { text: 'b', time: 40 },
  ]);
  t.equal(f.pendingSince, 0);
  t.same(texts(), ['hello world', 'next', 'a', 'b']);
});

t.test('flush delivers a partial line', async (t) => {
  const { f, out } = framer();
  f.push(Buffer.from('done\nno newline at the end'), 7);
  f.flush();
  t.same(out, [
    { text: 'done', time: 7 },
    { text: 'no newline at the end', time: 7 },
  ]);
  t.equal(f.pendingBytes, 0);
  f.push(Buffer.from('after\n'), 8);
  t.same(out.at(-1), { text: 'after', time: 8 }, 'framing continues after a flush');
});

t.test('the pending buffer does not alias the caller’s chunk', async (t) => {
  const { f, texts } = framer();
  const chunk = Buffer.from('abc');
  f.push(chunk, 1);
  chunk.write('xyz');
  f.push(Buffer.from('\n'), 2);
  t.same(texts(), ['abc']);
});

t.test('a long line becomes several records that reassemble byte-exact (one chunk)', async (t) => {
  const { f, texts } = framer(16);
  const line = 'é'.repeat(5) + '😀'.repeat(4) + 'abc' + '中'.repeat(7); // 1- to 4-byte characters
  f.push(Buffer.from(`${line}\nshort\n`), 1);
  const records = texts();
  t.equal(records.at(-1), 'short');
  const pieces = records.slice(0, -1);
  t.ok(pieces.length > 1, `split into ${pieces.length} records`);
  for (const piece of pieces) {
    t.ok(Buffer.byteLength(piece) <= 16, `record of ${Buffer.byteLength(piece)} bytes fits`);
    t.notOk(piece.includes('\ufffd'), 'no character was cut');
  }
  t.same(Buffer.from(pieces.join('')), Buffer.from(line), 'reassembles byte-exact');
  t.same(pieces, ['ééééé😀', '😀😀😀abc', '中中中中中', '中中'], 'each cut falls before the first character that does not fit');
});

t.test('a long line split across many small chunks gives the same records', async (t) => {
  const line = Buffer.from('ab' + '😀'.repeat(10) + 'ü'.repeat(9) + 'xyz');
  const whole = framer(16);
  whole.f.push(Buffer.concat([line, Buffer.from('\n')]), 1);
  for (const size of [1, 2, 3, 5, 7, 16, 17]) {
    const chunked = framer(16);
    for (let i = 0; i < line.length; i += size) chunked.f.push(line.subarray(i, i + size), 1);
    t.ok(chunked.f.pendingBytes <= 16, 'pending never exceeds the maximum');
    chunked.f.push(Buffer.from('\n'), 1);
    t.same(chunked.texts(), whole.texts(), `chunks of ${size} bytes`);
    t.same(Buffer.from(chunked.texts().join('')), line, 'reassembles byte-exact');
  }
});

t.test('a line of exactly the maximum is one record, in one chunk or several', async (t) => {
  const one = framer(8);
  one.f.push(Buffer.from('12345678\n'), 1);
  t.same(one.texts(), ['12345678']);
  const two = framer(8);
  two.f.push(Buffer.from('12345678'), 1);
  two.f.push(Buffer.from('\n'), 2);
  t.same(two.texts(), ['12345678'], 'no empty record after the newline');
  const double = framer(8);
  double.f.push(Buffer.from('1234'), 1);
  double.f.push(Buffer.from('5678abcd'), 1);
  double.f.push(Buffer.from('efgh\n'), 1);
  t.same(double.texts(), ['12345678', 'abcdefgh']);
});

t.test('a multibyte character split across chunks is kept whole', async (t) => {
  const { f, texts } = framer();
  const euro = Buffer.from('€'); // e2 82 ac
  f.push(Buffer.concat([Buffer.from('price: '), euro.subarray(0, 1)]), 1);
  f.push(euro.subarray(1, 2), 2);
  f.push(Buffer.concat([euro.subarray(2), Buffer.from('5\n')]), 3);
  t.same(texts(), ['price: €5']);
  // ... also when the split falls exactly at the record limit.
  const small = framer(4);
  small.f.push(Buffer.from([0x61, 0x62, 0x63, 0xc3]), 1);
  small.f.push(Buffer.from([0xa9, 0x0a]), 1);
  t.same(small.texts(), ['abc', 'é']);
  t.notOk(small.texts().join('').includes('\ufffd'));
});

t.test('invalid UTF-8 becomes U+FFFD', async (t) => {
  const { f, texts } = framer();
  f.push(Buffer.from([0x61, 0xff, 0x62, 0x0a, 0xc3, 0x28, 0x0a, 0xe2, 0x82, 0x0a]), 1);
  t.same(texts(), ['a\ufffdb', '\ufffd(', '\ufffd']);
  const small = framer(4);
  small.f.push(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x0a]), 1);
  t.same(small.texts().join(''), '\ufffd'.repeat(6), 'stray continuation bytes are each replaced');
  const trailing = framer();
  trailing.f.push(Buffer.from([0x68, 0x69, 0xf0, 0x9f]), 1);
  trailing.f.flush();
  t.same(trailing.texts(), ['hi\ufffd'], 'an incomplete character at the end of the stream');
});

t.test('maxRecordBytes must be at least 4', async (t) => {
  t.throws(() => new LineFramer({ maxRecordBytes: 3, emit: () => {} }), new RangeError('maxRecordBytes must be at least 4, got 3'));
  t.throws(() => new LineFramer({ maxRecordBytes: NaN, emit: () => {} }), new RangeError('maxRecordBytes must be at least 4, got NaN'));
  t.doesNotThrow(() => new LineFramer({ maxRecordBytes: 4, emit: () => {} }));
});

t.test('lines come as bytes, one block per read; a line begun earlier is a block of its own', async (t) => {
  const blocks: { lines: string[]; time: number; sameBuffer: boolean }[] = [];
  let chunk = Buffer.alloc(0);
  const f = new LineFramer({
    maxRecordBytes: 1024,
    emit: (block) => {
      const lines = [];
      for (let i = 0; i < block.count; i++) lines.push(block.buf.subarray(block.bounds[2 * i], block.bounds[2 * i + 1]).toString('latin1'));
      blocks.push({ lines, time: block.time, sameBuffer: block.buf === chunk });
    },
  });
  chunk = Buffer.from('par');
  f.push(chunk, 1);
  t.same(blocks, [], 'no complete line, no block');
  chunk = Buffer.from('t\none\ntwo\n\xff\nthr', 'latin1');
  f.push(chunk, 2);
  t.same(
    blocks,
    [
      { lines: ['part'], time: 1, sameBuffer: false },
      { lines: ['one', 'two', '\xff'], time: 2, sameBuffer: true },
    ],
    'the lines of the read are ranges of the read itself (no copy), invalid bytes as they are',
  );
});

t.test('a driver that throws does not carry its lines into the next block', async (t) => {
  const seen: number[] = [];
  const f = new LineFramer({
    maxRecordBytes: 1024,
    emit: (block) => {
      seen.push(block.count);
      if (seen.length === 1) throw new Error('driver bug');
    },
  });
  t.throws(() => f.push(Buffer.from('a\nb\n'), 1), /driver bug/);
  f.push(Buffer.from('c\n'), 2);
  t.same(seen, [2, 1]);
});

t.test('a read of many short lines is one block', async (t) => {
  const counts: number[] = [];
  const texts: string[] = [];
  const f = new LineFramer({
    maxRecordBytes: 1024,
    emit: (block) => {
      counts.push(block.count);
      for (let i = 0; i < block.count; i++) texts.push(lineText(block, i));
    },
  });
  const lines = Array.from({ length: 5000 }, (_, i) => String(i));
  f.push(Buffer.from(lines.join('\n') + '\n'), 1);
  t.same(counts, [5000]);
  t.same(texts, lines);
});
