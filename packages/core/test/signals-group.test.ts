// A signal sent to uk's whole process group (as `timeout`, `kill -- -PGID` or a service manager
// sends it) must reach the program exactly once: uk forwards it, so the program must not also get
// it from the group.
import { spawn } from 'node:child_process';
import t from 'tap';
import { cleanEnv, node, ukBin } from './uk-process.js';

const COUNT_TERMS = `n=0; trap 'n=$((n+1))' TERM; echo ready; i=0
while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); if [ $n -gt 0 ]; then sleep 0.5; echo "TERM x$n"; exit 0; fi; done
echo "no TERM"; exit 1`;

t.test('SIGTERM to the process group reaches the program once', async (t) => {
  const uk = spawn(node, [ukBin, 'run', '--', 'sh', '-c', COUNT_TERMS], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  uk.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('ready') && !out.includes('sent')) {
      out += '(sent)\n';
      process.kill(-uk.pid!, 'SIGTERM');
    }
  });
  uk.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => uk.once('close', (c) => resolve(c)));
  t.equal(code, 0, 'the program handled the signal and exited 0', { stderr: err });
  t.match(out, /^TERM x1$/m, 'exactly one SIGTERM arrived');
});
