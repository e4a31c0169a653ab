import t, { type Test } from 'tap';
import { ManualClock, startGcpEmulators, type GcpEmulators } from '../src/index.js';

const INSTANCE = '1234567890123456789';

async function start(t: Test, clock: ManualClock): Promise<GcpEmulators & { token: string }> {
  const emulators = await startGcpEmulators({ clock, projectId: 'p-1', zone: 'us-west2-a', instanceId: INSTANCE });
  t.teardown(() => emulators.close());
  return { ...emulators, token: emulators.tokens.issue().token };
}

function series(metric: string, labels: Record<string, string>, endTime: string, value: Record<string, unknown> = { doubleValue: 1 }) {
  return {
    metric: { type: metric, labels },
    resource: { type: 'gce_instance', labels: { instance_id: INSTANCE, zone: 'us-west2-a' } },
    points: [{ interval: { endTime }, value }],
  };
}

async function create(e: GcpEmulators & { token: string }, body: unknown, project = 'p-1') {
  const response = await fetch(`${e.monitoring.url}/v3/projects/${project}/timeSeries`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${e.token}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    json: text ? (JSON.parse(text) as { error?: { message: string; details?: { totalPointCount: number; successPointCount: number }[] } }) : {},
  };
}

t.test('agent metrics are written; series are checked for order, spacing and duplicates', async (t) => {
  const clock = new ManualClock(Date.now());
  const e = await start(t, clock);
  const at = (ms: number) => new Date(clock.now() + ms).toISOString();
  const ok = await create(e, {
    timeSeries: [
      series('agent.googleapis.com/memory/bytes_used', { state: 'used' }, at(0)),
      series('agent.googleapis.com/disk/percent_used', { device: '/dev/sda1', state: 'free' }, at(0)),
    ],
  });
  t.same(ok, { status: 200, json: {} });
  t.equal(e.monitoring.pointsOf('agent.googleapis.com/memory/bytes_used').length, 1);
  const soon = await create(e, {
    timeSeries: [
      series('agent.googleapis.com/memory/bytes_used', { state: 'used' }, at(5000)),
      series('agent.googleapis.com/memory/bytes_used', { state: 'free' }, at(5000)),
    ],
  });
  t.equal(soon.status, 400);
  t.match(soon.json.error?.message, /more frequently than the maximum sampling period/);
  t.match(soon.json.error?.details?.[0], { totalPointCount: 2, successPointCount: 1 }, 'the other series was written');
  const older = await create(e, { timeSeries: [series('agent.googleapis.com/memory/bytes_used', { state: 'used' }, at(-1000))] });
  t.match(older.json.error?.message, /Points must be written in order/);
  const dup = await create(e, {
    timeSeries: [
      series('agent.googleapis.com/memory/bytes_used', { state: 'cached' }, at(0)),
      series('agent.googleapis.com/memory/bytes_used', { state: 'cached' }, at(0)),
    ],
  });
  t.match(dup.json.error?.message, /Duplicate TimeSeries/);
  t.equal(e.monitoring.points.length, 4);
});

t.test('label, value and resource checks; limits; schema; auth; project', async (t) => {
  const clock = new ManualClock(Date.now());
  const e = await start(t, clock);
  const now = new Date(clock.now()).toISOString();
  const bad = await create(e, {
    timeSeries: [
      series('agent.googleapis.com/memory/bytes_used', { state: 'sleeping' }, now),
      series('agent.googleapis.com/memory/bytes_used', { state: 'used', host: 'x' }, now),
      series('agent.googleapis.com/memory/percent_used', { state: 'used' }, now, { int64Value: '5' }),
      series('agent.googleapis.com/nothing', { state: 'used' }, now),
      {
        ...series('agent.googleapis.com/memory/bytes_used', { state: 'free' }, now),
        resource: { type: 'gce_instance', labels: { instance_id: '1', zone: 'us-west2-a' } },
      },
      series('agent.googleapis.com/memory/bytes_used', { state: 'used' }, new Date(clock.now() + 3600_000).toISOString()),
    ],
  });
  t.equal(bad.status, 400);
  t.match(bad.json.error?.details?.[0], { totalPointCount: 6, successPointCount: 0 });
  t.equal(e.monitoring.refusedSeries, 6);
  const many = Array.from({ length: 201 }, (_, i) => series('custom.googleapis.com/x', { i: String(i) }, now));
  t.match((await create(e, { timeSeries: many })).json.error?.message, /maximum of 200 TimeSeries/);
  t.match((await create(e, { timeSeries: [{ ...series('custom.googleapis.com/x', {}, now), color: 'red' }] })).json.error?.message, /Unknown name "color"/);
  t.equal((await create(e, { timeSeries: [series('custom.googleapis.com/x', {}, now)] }, 'other')).status, 403);
  e.tokens.expire(e.token);
  t.equal((await create(e, { timeSeries: [series('custom.googleapis.com/x', {}, now)] })).status, 401);
  t.equal(e.monitoring.points.length, 0);
});
