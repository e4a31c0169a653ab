/**
 * /proc/meminfo, the one source of memory metrics for every klib (CloudWatch's agent and Google's
 * Ops Agent both derive theirs from it, each in its own way).
 */
import { readFile } from 'node:fs/promises';

/** Every field of /proc/meminfo, in bytes (fields given in kB are converted). */
export function parseMeminfo(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z0-9_()]+):\s+(\d+)(\s+kB)?\s*$/.exec(line);
    if (match) fields.set(match[1] as string, Number(match[2]) * (match[3] ? 1024 : 1));
  }
  return fields;
}

export async function readMeminfo(path = '/proc/meminfo'): Promise<Map<string, number>> {
  return parseMeminfo(await readFile(path, 'utf8'));
}
