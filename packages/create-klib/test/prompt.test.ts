// In a terminal, create-klib asks for the names (defaults in brackets). A PassThrough marked as a
// TTY stands in for the terminal; the answers go through the same main() as the bin's.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { main } from '../src/main.js';
import { readJson, tempDir } from './helpers.js';

function terminal(answers: string[]) {
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    // Answer each question once it is asked, as a person would.
    if (out.trimEnd().endsWith(':') && answers.length > 0) stdin.write(`${answers.shift()}\n`);
  });
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { stdin, stdout, stderr, output: () => out, errors: () => err };
}

t.test('asks for the klib and package names; an empty answer takes the default', async (t) => {
  const cwd = tempDir(t);
  const io = terminal(['Bad Name', 'shipper', '']);
  const code = await main(['out'], { ...io, cwd });
  t.equal(code, 0, io.errors());
  t.match(io.output(), 'klib name (out): ');
  t.match(io.errors(), '"Bad Name" (your answer) is not a valid klib name', 'a bad answer is explained and asked again');
  t.match(io.output(), 'package name (uk-klib-shipper): ');
  t.equal(readJson(join(cwd, 'out', 'package.json')).name, 'uk-klib-shipper');
  t.match(readFileSync(join(cwd, 'out', 'src', 'index.ts'), 'utf8'), "const NAME = 'shipper';");
});

t.test('--yes asks nothing, even in a terminal', async (t) => {
  const cwd = tempDir(t);
  const io = terminal([]);
  const code = await main(['quiet', '--yes'], { ...io, cwd });
  t.equal(code, 0, io.errors());
  t.equal(io.output().includes('klib name'), false);
  t.ok(existsSync(join(cwd, 'quiet', 'package.json')));
});
