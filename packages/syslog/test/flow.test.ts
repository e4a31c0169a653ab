import t from 'tap';
import { FlowControl } from '../src/flow.js';

/** A flow control over one output whose queue size and clock the test sets. */
function setup(stallMs = 1000) {
  let now = 0;
  let pending = 0;
  const flow = new FlowControl(stallMs, () => now);
  let release: (() => void) | undefined;
  let fail: Error | undefined;
  const send = flow.track<number>({ pendingBytes: () => pending, highWater: 100, lowWater: 50 }, () =>
    new Promise<void>((resolve, reject) => {
      release = () => (fail ? reject(fail) : resolve());
    }),
  );
  return {
    flow,
    send: () => send([1]).catch(() => {}),
    finish: () => release?.(),
    setPending: (n: number) => (pending = n),
    setNow: (ms: number) => (now = ms),
    failNext: (err: Error) => (fail = err),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test('pauses at the high mark and resumes only at the low one', async (t) => {
  const s = setup();
  s.setPending(99);
  t.equal(s.flow.shouldPause(), false);
  s.setPending(100);
  t.equal(s.flow.shouldPause(), true, 'at the high mark');
  s.setPending(70);
  t.equal(s.flow.shouldPause(), true, 'still above the low mark');
  let drained = false;
  const drain = s.flow.drain().then(() => (drained = true));
  const sending = s.send();
  s.setPending(40);
  s.finish();
  await sending;
  await tick();
  await drain;
  t.equal(drained, true, 'drain resolves after a send brings the queue to the low mark');
  t.equal(s.flow.shouldPause(), false);
});

t.test('a failing output never holds the program back', async (t) => {
  const s = setup();
  s.setPending(500);
  t.equal(s.flow.shouldPause(), true);
  const drain = s.flow.drain();
  s.failNext(new Error('ECONNREFUSED'));
  const sending = s.send();
  s.finish();
  await sending;
  await tick();
  await drain;
  t.equal(s.flow.shouldPause(), false, 'while failing, reading goes on (and the buffer drops when full)');
});

t.test('a send stuck longer than stallMs releases the program', async (t) => {
  const s = setup(50);
  s.setPending(500);
  void s.send();
  t.equal(s.flow.shouldPause(), true, 'a send in progress: wait for it');
  s.setNow(51);
  t.equal(s.flow.shouldPause(), false, 'no progress for 51 ms > 50 ms: stop waiting');
  s.setNow(0);
  const drain = s.flow.drain();
  s.setNow(100);
  // The recheck timer fires after stallMs of real time; it is unref'd, so keep the test alive.
  const alive = setTimeout(() => {}, 5000);
  await drain;
  clearTimeout(alive);
  t.pass('drain resolved without any send completing');
});

t.test('close releases everyone and never pauses again', async (t) => {
  const s = setup();
  s.setPending(500);
  const drain = s.flow.drain();
  s.flow.close();
  await drain;
  t.equal(s.flow.shouldPause(), false);
});
