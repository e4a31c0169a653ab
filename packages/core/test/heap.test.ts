import t from 'tap';
import { Heap, Heaps } from '../src/heap.js';

t.test('a heap is a byte budget with accounting', async (t) => {
  const heap = new Heap('syslog', 100);
  t.equal(heap.name, 'syslog');
  t.equal(heap.capacity, 100);
  t.equal(heap.available, 100);
  t.equal(heap.allocate(60), true);
  t.equal(heap.allocate(40), true, 'exactly the capacity fits');
  t.equal(heap.allocated, 100);
  t.equal(heap.available, 0);
  t.equal(heap.allocate(1), false, 'nothing more fits');
  t.equal(heap.allocated, 100, 'a refused allocation takes nothing');
  heap.free(70);
  t.equal(heap.allocated, 30);
  t.equal(heap.allocate(80), false, 'too big for what is left');
  t.equal(heap.allocate(70), true);
  heap.free(100);
  t.equal(heap.allocate(0), true, 'zero bytes always fit');
  t.equal(heap.allocate(-1), false, 'negative sizes are refused');
  t.same(heap.stats(), { name: 'syslog', capacity: 100, allocated: 0, peak: 100, failures: 3 });
});

t.test('the heap never exceeds its capacity, and failures are counted', async (t) => {
  const heap = new Heap('flood', 1000);
  let refused = 0;
  let held = 0;
  for (let i = 0; i < 500; i++) {
    const size = (i * 37) % 97;
    if (heap.allocate(size)) held += size;
    else refused++;
    t.ok(heap.allocated <= heap.capacity);
    if (i % 7 === 0 && held > 0) {
      const give = Math.min(held, 150);
      heap.free(give);
      held -= give;
    }
  }
  t.ok(refused > 0, `${refused} allocations refused`);
  t.equal(heap.stats().failures, refused);
  t.equal(heap.allocated, held);
  t.ok(heap.stats().peak <= 1000 && heap.stats().peak >= 900, `peak ${heap.stats().peak}`);
});

t.test('misuse is a RangeError', async (t) => {
  t.throws(() => new Heap('x', 0), new RangeError('heap x: capacity must be a positive whole number of bytes, got 0'));
  t.throws(() => new Heap('x', 1.5), new RangeError('heap x: capacity must be a positive whole number of bytes, got 1.5'));
  t.throws(() => new Heap('x', Infinity), new RangeError('heap x: capacity must be a positive whole number of bytes, got Infinity'));
  const heap = new Heap('h', 10);
  heap.allocate(4);
  t.throws(() => heap.free(5), new RangeError('heap h: freeing 5 bytes but only 4 allocated'));
  t.throws(() => heap.free(-1), new RangeError('heap h: freeing -1 bytes but only 4 allocated'));
  t.equal(heap.allocated, 4);
});

t.test('Heaps: one registry by name', async (t) => {
  const heaps = new Heaps();
  const a = heaps.create('syslog', 10);
  const b = heaps.create('cloudwatch', 20);
  t.equal(heaps.get('syslog'), a);
  t.equal(heaps.get('cloudwatch'), b);
  t.equal(heaps.get('gcp'), undefined);
  t.throws(() => heaps.create('syslog', 5), new RangeError('heap syslog already exists'));
  a.allocate(7);
  b.allocate(25);
  t.same(heaps.stats(), [
    { name: 'syslog', capacity: 10, allocated: 7, peak: 7, failures: 0 },
    { name: 'cloudwatch', capacity: 20, allocated: 0, peak: 0, failures: 1 },
  ]);
});
