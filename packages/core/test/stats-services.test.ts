import t from 'tap';
import { reasonOf, ukError, isUkError, ErrorCodes, UkError } from '../src/errors.js';
import { serviceToken, Services } from '../src/services.js';
import { Counter, Stats } from '../src/stats.js';
import { assertUkError, thrownBy } from './helpers.js';

t.test('Stats: counters per group, snapshot, losses, lines', async (t) => {
  const stats = new Stats();
  const sent = stats.counter('syslog', 'sent');
  t.equal(stats.counter('syslog', 'sent'), sent, 'the same counter each time');
  sent.add();
  sent.add(9);
  stats.counter('syslog', 'dropped');
  stats.counter('syslog', 'reconnects').add(1);
  stats.counter('cloudwatch', 'put_requests').add(4);
  t.same(stats.snapshot(), { syslog: { sent: 10, dropped: 0, reconnects: 1 }, cloudwatch: { put_requests: 4 } });
  t.same(stats.lines(), ['syslog: sent=10 dropped=0 reconnects=1', 'cloudwatch: put_requests=4']);
  t.equal(stats.hasLosses(), false, 'a zero loss counter is no loss');
  stats.counter('syslog', 'reconnects').add(5);
  t.equal(stats.hasLosses(), false, 'reconnects are not losses');
  for (const name of ['dropped', 'rejected', 'requests_failed', 'lost_records', 'truncated']) {
    const s = new Stats();
    s.counter('k', name).add();
    t.equal(s.hasLosses(), true, `${name} is a loss`);
  }
  const c = new Counter();
  t.equal(c.value, 0);
  c.add(3);
  t.equal(c.value, 3);
});

t.test('Services: provide, get, duplicates, missing', async (t) => {
  const services = new Services();
  const token = serviceToken<{ n: number }>('thing');
  t.equal(token.id, Symbol.for('uk.service:thing'), 'tokens are global symbols');
  t.ok(Object.isFrozen(token));
  t.equal(services.has(token), false);
  t.equal(services.tryGet(token), undefined);
  const value = { n: 1 };
  services.provide(token, value, 'maker');
  t.equal(services.has(serviceToken('thing')), true, 'another token with the same name finds it');
  t.equal(services.get(token), value);
  t.equal(services.tryGet(token), value);
  t.throws(() => services.provide(token, { n: 2 }, 'other'), new RangeError('service thing is already provided by maker'));
  const missing = serviceToken('absent');
  const err = assertUkError(
    t,
    thrownBy(() => services.get(missing, 'syslog')),
    'UK_ERR_SERVICE_MISSING',
    'syslog: no loaded klib provides the absent service',
    'absent',
  );
  t.equal(err?.fix, 'add the klib that provides it to Klibs and list it in the dependencies of the klib that uses it');
  assertUkError(
    t,
    thrownBy(() => services.get(missing)),
    'UK_ERR_SERVICE_MISSING',
    'no loaded klib provides the absent service',
  );
  services.provide(serviceToken<string>('kernel-thing'), 'v');
  t.throws(() => services.provide(serviceToken<string>('kernel-thing'), 'w'), new RangeError('service kernel-thing is already provided by kernel'));
});

t.test('UkError: codes, describe, reasonOf, isUkError across copies', async (t) => {
  const cause = new Error('root');
  const err = ukError('UK_ERR_NO_PROGRAM', 'there is nothing to run', { where: 'Program', fix: 'set Program', cause });
  t.ok(err instanceof UkError);
  t.ok(err instanceof Error);
  t.equal(err.name, 'UkError');
  t.equal(err.code, 'UK_ERR_NO_PROGRAM');
  t.ok(err.code in ErrorCodes);
  t.equal(err.where, 'Program');
  t.equal(err.cause, cause);
  t.same(err.problems, []);
  t.equal(err.describe(), 'there is nothing to run (set Program)');
  t.equal(ukError('UK_ERR_NO_PROGRAM', 'plain').describe(), 'plain');
  t.equal(reasonOf(err), 'there is nothing to run (set Program)');
  t.equal(reasonOf(new TypeError('bad type')), 'bad type');
  t.equal(reasonOf(new RangeError('')), 'RangeError');
  t.equal(reasonOf('text'), 'text');
  t.equal(reasonOf(42), '42');
  t.ok(isUkError(err));
  t.notOk(isUkError(new Error('x')));
  t.notOk(isUkError(null));
  t.notOk(isUkError({ code: 'UK_ERR_NO_PROGRAM' }), 'a look-alike object is not a UkError');
  const fromOtherCopy = Object.defineProperty(new Error('elsewhere'), Symbol.for('uk.error'), { value: true });
  t.ok(isUkError(fromOtherCopy), 'an error made by another copy of @uk/core is recognised');
  for (const [code, meaning] of Object.entries(ErrorCodes)) {
    t.match(code, /^UK_ERR_[A-Z_]+$/);
    t.ok(meaning.length > 10, `${code} has a meaning`);
  }
});
