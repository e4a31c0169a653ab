// "Did you mean …?": which known name a mistyped Klibs entry is offered, and when none is.
import t from 'tap';
import { editDistance, nearestName, typoAllowance } from '../src/nearest-name.js';

const builtins = ['tls', 'syslog', 'cloudwatch', 'gcp'];

t.test('edit distance counts a swap of neighbours as one edit', async (t) => {
  t.equal(editDistance('syslog', 'syslog'), 0);
  t.equal(editDistance('syslgo', 'syslog'), 1, 'swap');
  t.equal(editDistance('sylog', 'syslog'), 1, 'a letter left out');
  t.equal(editDistance('sysslog', 'syslog'), 1, 'a letter too many');
  t.equal(editDistance('syzlog', 'syslog'), 1, 'a letter wrong');
  t.equal(editDistance('ysslgo', 'syslog'), 2, 'two swaps');
  t.equal(editDistance('', 'tls'), 3);
  t.equal(editDistance('gcp', ''), 3);
  t.equal(editDistance('kitten', 'sitting'), 3);
});

t.test('the allowance grows with the length of the name', async (t) => {
  t.same(['x', 'tl', 'gpc', 'sylog', 'syslgo', 'cloudwach'].map(typoAllowance), [0, 1, 1, 1, 2, 2]);
});

t.test('nearestName offers the nearest known name within the allowance, or none', async (t) => {
  t.equal(nearestName('syslgo', builtins), 'syslog');
  t.equal(nearestName('Syslog', builtins), 'syslog', 'case does not hide the name');
  t.equal(nearestName('clodwatch', builtins), 'cloudwatch');
  t.equal(nearestName('cloudwach', builtins), 'cloudwatch');
  t.equal(nearestName('gpc', builtins), 'gcp');
  t.equal(nearestName('tl', builtins), 'tls');
  t.equal(nearestName('ysslgo', builtins), 'syslog', 'two edits in a long name');
  t.equal(nearestName('sysl', builtins), undefined, 'two edits in a short name are too many');
  t.equal(nearestName('x', builtins), undefined, 'a single letter is near everything: nothing offered');
  t.equal(nearestName('audit', builtins), undefined);
  t.equal(nearestName('syslog', builtins), undefined, 'the name itself is not a suggestion');
  t.equal(nearestName('abcd', ['abce', 'abcd', 'abxd']), 'abce', 'the first of equals');
  t.equal(nearestName('uk-klib-adit', ['uk-klib-audi', 'uk-klib-audit']), 'uk-klib-audit', 'the nearer wins');
});
