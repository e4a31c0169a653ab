/**
 * Command-line parsing for `uk`. Options end at `--` or at the first word that is not an option,
 * so `uk run -c app.json ./server --port 80` passes `--port 80` to the program.
 */
import { ukError } from './errors.js';

export type Command = 'run' | 'validate' | 'klibs' | 'help' | 'version';

export interface CliArgs {
  readonly command: Command;
  readonly config: string | undefined;
  readonly verbose: boolean;
  readonly strict: boolean;
  readonly statsIntervalSeconds: number | undefined;
  /** Program and its arguments (run only). */
  readonly program: readonly string[];
}

const COMMANDS: readonly Command[] = ['run', 'validate', 'klibs', 'help'];
const usage = (message: string) => ukError('UK_ERR_CLI_USAGE', `${message} (see uk --help)`);

export function parseCliArgs(argv: readonly string[]): CliArgs {
  let command: Command | undefined;
  let config: string | undefined;
  let verbose = false;
  let strict = false;
  let statsIntervalSeconds: number | undefined;
  let program: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const takeValue = (flag: string): string => {
      const inline = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : undefined;
      if (inline !== undefined) return inline;
      const value = argv[++i];
      if (value === undefined || value === '') throw usage(`option ${flag} needs a value`);
      return value;
    };
    if (arg === '--') {
      program = argv.slice(i + 1);
      break;
    }
    const flag = arg.startsWith('--') ? arg.split('=')[0] : arg;
    switch (flag) {
      case '-h':
      case '--help':
        return { command: 'help', config, verbose, strict, statsIntervalSeconds, program };
      case '-V':
      case '--version':
        return { command: 'version', config, verbose, strict, statsIntervalSeconds, program };
      case '-c':
      case '--config':
        config = takeValue(flag);
        continue;
      case '-v':
      case '--verbose':
        verbose = true;
        continue;
      case '--strict':
        strict = true;
        continue;
      case '--stats-interval': {
        const value = takeValue(flag);
        if (!/^\d+$/.test(value) || Number(value) < 1)
          throw usage(`option --stats-interval expects a whole number of seconds ≥ 1, got ${JSON.stringify(value)}`);
        statsIntervalSeconds = Number(value);
        continue;
      }
    }
    if (arg.startsWith('-') && arg !== '-') throw usage(`unknown option ${flag}`);
    if (command === undefined) {
      if (!(COMMANDS as readonly string[]).includes(arg)) throw usage(`unknown command ${JSON.stringify(arg)}; commands: run, validate, klibs`);
      command = arg as Command;
      continue;
    }
    if (command === 'run') {
      program = argv.slice(i);
      break;
    }
    throw usage(`unexpected argument ${JSON.stringify(arg)} for uk ${command}`);
  }
  if (command === undefined) return { command: 'help', config, verbose, strict, statsIntervalSeconds, program };
  if (command === 'validate' && config === undefined) throw usage('uk validate needs -c FILE');
  if (program.length > 0 && command !== 'run') throw usage(`uk ${command} takes no program`);
  return { command, config, verbose, strict, statsIntervalSeconds, program };
}

export const HELP = `uk — Nanos-style klibs for any Linux program

Usage:
  uk run [-c FILE] [--verbose] [--strict] [--stats-interval S] [--] [PROGRAM [ARGS…]]
      Run PROGRAM (default: the config's Program and Args) and send its output
      through the console drivers of the klibs listed in the config's Klibs.
  uk validate -c FILE
      Check the config and every klib's options without starting anything.
  uk klibs [-c FILE]
      List the klibs that can be resolved, with version and dependencies.

Options:
  -c, --config FILE       Ops configuration file (JSON)
  -v, --verbose           show klib load order and timings, and counters at exit
      --strict            exit 2 instead of running the program when a klib fails to load
      --stats-interval S  print klib counters every S seconds
  -h, --help              show this help
  -V, --version           show uk's version

Exit status: the program's own; 128+N if signal N killed it; 2 for a usage or
config error; 127 if the program was not found.
Docs: https://github.com/uk-dev/uk/tree/main/docs
`;
