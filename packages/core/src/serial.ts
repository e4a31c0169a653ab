/**
 * The serial console driver: the program's stdout and stderr go to uk's own stdout and stderr,
 * byte for byte. It is attached first, as in Nanos, and `consoles: ["-serial"]` turns it off.
 */
import type { Writable } from 'node:stream';
import type { ConsoleDriver, ProgramStream } from './console.js';

export function serialDriver(stdout: Writable = process.stdout, stderr: Writable = process.stderr): ConsoleDriver {
  const target = (stream: ProgramStream): Writable => (stream === 'stdout' ? stdout : stderr);
  return {
    name: 'serial',
    writeRaw: (chunk, stream) => target(stream).write(chunk),
    drain: (stream) => new Promise<void>((resolve) => (target(stream).writableNeedDrain ? target(stream).once('drain', resolve) : resolve())),
    flush: () =>
      new Promise<void>((resolve) => {
        // An empty write's callback runs once everything queued before it is handed to the OS.
        let left = 2;
        const done = (): void => void (--left === 0 && resolve());
        stdout.write('', done);
        stderr.write('', done);
      }),
  };
}
