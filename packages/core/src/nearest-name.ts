/**
 * "Did you mean …?" for a Klibs entry that names nothing installed: the nearest of the names uk
 * knows, by edit distance. uk only ever suggests names it knows (built-in klibs, klib packages
 * already installed), never a package to install: a typo must not turn into running a stranger's code.
 */

/**
 * Edit distance where swapping two neighbouring characters counts as one edit (optimal string
 * alignment): `syslgo` is one edit from `syslog`, as the typo was one slip of the fingers.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i, ...Array<number>(b.length).fill(0)]);
  const row0 = rows[0] as number[];
  for (let j = 0; j <= b.length; j++) row0[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const above = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      row[j] = best;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/**
 * How many edits still count as a typo of a name this long: one for short names (`tl` → `tls`,
 * `gpc` → `gcp`), two from six characters on; none for a single character, which is near everything.
 */
export function typoAllowance(name: string): number {
  if (name.length < 2) return 0;
  return name.length < 6 ? 1 : 2;
}

/** The candidate nearest to `written` within the typo allowance (the first of equals), if any. */
export function nearestName(written: string, candidates: Iterable<string>): string | undefined {
  const typed = written.toLowerCase();
  const allowance = typoAllowance(typed);
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    if (name === written) continue;
    const distance = editDistance(typed, name.toLowerCase());
    if (distance <= allowance && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}
