/**
 * The custom rule (`uk.multiline: {"start": "<regex>"}`), as Docker's `awslogs-multiline-pattern`
 * and the CloudWatch agent's `multi_line_start_pattern`: a line matching the pattern starts a new
 * record, and every following line that does not match continues it. A line before the first
 * match (no record open) stands alone.
 */
import { REJECT, step, type GroupRule } from './rule.js';

const OPEN = 1;

export function startRule(start: RegExp): GroupRule {
  // A global or sticky pattern would carry lastIndex from one line to the next.
  const pattern = start.global || start.sticky ? new RegExp(start.source, start.flags.replace(/[gy]/g, '')) : start;
  const continues = step('join', OPEN);
  return {
    open(buf, from, to) {
      if (to > from && buf[to - 1] === 0x0d) to--;
      return pattern.test(buf.toString('utf8', from, to)) ? OPEN : 0;
    },
    next(_state, line) {
      return pattern.test(line) ? REJECT : continues;
    },
  };
}
