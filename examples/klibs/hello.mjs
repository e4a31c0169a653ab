// hello: a complete third-party klib. It adds a console driver named `hello` that appends every
// record (a line of the program's stdout/stderr, or a `uk:` message) to a file as one JSON line:
//
//   {"time":"2026-01-01T12:00:00.000Z","source":"stdout","text":"log 1"}
//
// Configuration (ManifestPassthrough):   "hello": { "file": "logs/hello.jsonl" }
// `file` is required and relative to uk's working directory; any other key is an error.
//
// Records are buffered in memory (within a byte budget taken from a kernel heap) and appended
// once a second and when uk shuts down, so that a busy program costs one write per second, not
// one per line. When the budget is spent, records are dropped and counted, never queued forever.
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { defineKlib, OptionsReader } from '@uk/core';

const FLUSH_INTERVAL_MS = 1000;
const BUFFER_BYTES = 4 * 1024 * 1024;

/** Appends to `file`, creating its directory the first time it is missing. */
async function appendWithDir(file, text) {
  try {
    await appendFile(file, text);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    await mkdir(dirname(file), { recursive: true });
    await appendFile(file, text);
  }
}

export default defineKlib({
  name: 'hello',
  version: '1.0.0',
  description: 'appends every console record to a file as a JSON line',
  // No `hello` tuple means no file to write to: say so at boot rather than load and do nothing.
  whenUnconfigured: 'fail',

  // Runs at boot and in `uk validate`: check everything here, start nothing.
  options({ config }) {
    const reader = new OptionsReader('hello', config);
    reader.allowKeys(['file']);
    const file = reader.read((t) => t.requireString('file', 'a file path'), '');
    reader.done(); // throws one error listing every problem found above
    return { file: resolve(file) };
  },

  init(ctx) {
    const { file } = ctx.options;
    const heap = ctx.heaps.create('hello', BUFFER_BYTES);
    const written = ctx.counter('written');
    const dropped = ctx.counter('dropped');
    const failed = ctx.counter('failed');

    let pending = [];
    let pendingBytes = 0;
    let warnedFull = false;
    let failing = false;
    // Flushes run one after another, so lines reach the file in order even when the timer and
    // shutdown flush at the same moment.
    let chain = Promise.resolve();

    async function writePending() {
      if (pending.length === 0) return;
      const batch = pending;
      const bytes = pendingBytes;
      pending = [];
      pendingBytes = 0;
      try {
        await appendWithDir(file, batch.join(''));
        written.add(batch.length);
        if (failing) ctx.log.info(`writing to ${file} again`);
        failing = false;
      } catch (err) {
        failed.add(batch.length);
        // Log once per failure streak: the message is itself a record that comes back to this
        // driver, and one per second would fill the buffer with our own complaints.
        if (!failing) ctx.log.error(`cannot write to ${file}: ${err.code ?? err.message}; records are dropped until it works`);
        failing = true;
      } finally {
        heap.free(bytes);
      }
    }

    const flush = () => (chain = chain.then(writePending));

    ctx.console.attach({
      name: 'hello',
      // Called for every record; must not block or throw, so it only buffers.
      write(record) {
        const line = `${JSON.stringify({ time: new Date(record.time).toISOString(), source: record.source, text: record.text })}\n`;
        const bytes = Buffer.byteLength(line);
        if (!heap.allocate(bytes)) {
          dropped.add();
          if (warnedFull) return;
          // Set first: the warning is a record too, and comes straight back here.
          warnedFull = true;
          ctx.log.warn(`buffer of ${BUFFER_BYTES} bytes is full; dropping records until the next write`);
          return;
        }
        warnedFull = false;
        pending.push(line);
        pendingBytes += bytes;
      },
      // The kernel calls this at shutdown, under uk.shutdown_timeout.
      flush,
    });

    // Timers from ctx.timers never keep uk alive: uk exits when the program does.
    const timer = ctx.timers.periodic(FLUSH_INTERVAL_MS, () => void flush());
    ctx.onShutdown(() => {
      timer.cancel();
      return flush();
    });
    ctx.log.debug(`appending records to ${file}`);
  },
});
