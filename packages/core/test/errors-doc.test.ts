/** Keeps docs/errors.md in step with ErrorCodes: every code uk can raise is documented. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ErrorCodes } from '../src/errors.js';

const docPath = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

t.test('every code in ErrorCodes appears in docs/errors.md', async (t) => {
  t.ok(existsSync(docPath), `${docPath} exists`);
  const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
  const codes = Object.keys(ErrorCodes);
  t.ok(codes.length >= 20, `${codes.length} codes`);
  const missing = codes.filter((code) => !new RegExp(`\\b${code}\\b`).test(doc));
  t.same(missing, [], 'codes missing from docs/errors.md');
});
