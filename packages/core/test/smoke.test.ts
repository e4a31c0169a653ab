import t from 'tap';
import { parseSize } from '../src/manifest.js';

t.test('smoke', async (t) => {
  t.equal(parseSize('8M'), 8 * 1024 * 1024);
});
