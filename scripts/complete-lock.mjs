#!/usr/bin/env node
// Adds lock entries for platform-specific optional dependencies (e.g. nx's @nx/nx-darwin-arm64)
// that the registry this project is built against does not serve, so `npm install` leaves them
// out of package-lock.json and `npm ci` then refuses the lock as out of sync. The entries carry
// only version, os/cpu/libc and `optional`, so npm skips them on every other platform, exactly as
// it skips a package whose platform does not match. Run after `npm install`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;

function platformOf(name) {
  const os = ['darwin', 'linux', 'win32', 'freebsd', 'android', 'openbsd', 'sunos'].find((o) => name.includes(`-${o}-`));
  const cpu = ['x64', 'arm64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64'].find((c) => new RegExp(`-${c}(-|$)`).test(name));
  if (!os || !cpu) return undefined;
  const libc = /-musl$/.test(name) ? ['musl'] : /-gnu(eabihf)?$/.test(name) && os === 'linux' ? ['glibc'] : undefined;
  return { os: [os], cpu: [cpu], ...(libc ? { libc } : {}) };
}

let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  for (const [dep, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const depKey = `node_modules/${dep}`;
    if (packages[depKey]) continue;
    const platform = platformOf(dep);
    const version = /^\d+\.\d+\.\d+/.test(range) ? range : undefined;
    if (!platform || !version) continue;
    packages[depKey] = { version, ...platform, optional: true, ...(entry.dev ? { dev: true } : {}) };
    added++;
    console.log(`complete-lock: added ${dep}@${version} (${platform.os}/${platform.cpu}) for ${key || 'root'}`);
  }
}
if (added > 0) writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: ${added} entr${added === 1 ? 'y' : 'ies'} added`);
