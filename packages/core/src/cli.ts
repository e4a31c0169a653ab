#!/usr/bin/env node
/** The `uk` command. */
import { describeWithCode, isUkError, reasonOf, ukError } from './errors.js';
import { HELP, parseCliArgs, type CliArgs } from './cli-args.js';
import { loadOpsConfig, opsConfigFromJSON, type OpsConfig } from './config.js';
import { Kernel } from './kernel.js';
import { Secrets } from './redact.js';
import { BUILTIN_KLIBS, coreVersion, resolveKlib } from './loader.js';
import { setprivOnce } from './parent-death.js';
import { supervise } from './supervisor.js';
import { validateConfig } from './validate.js';
import { dependenciesOf } from './klib.js';
import { klibGuard } from './klib-guard.js';

/** The credentials the klibs register; also redacted from what uk prints outside the kernel log. */
const secrets = new Secrets();

/** A `uk: …` line on stderr, without credentials (an error may quote a server's answer). */
function say(message: string): void {
  process.stderr.write(`uk: ${secrets.redact(message)}\n`);
}

function fail(message: string, code = 2): number {
  say(message);
  return code;
}

async function run(args: CliArgs): Promise<number> {
  const config: OpsConfig = args.config ? loadOpsConfig(args.config) : opsConfigFromJSON({});
  const [path, ...programArgs] = args.program.length > 0 ? args.program : config.program ? [config.program, ...config.args] : [];
  if (!path) throw ukError('UK_ERR_NO_PROGRAM', 'no program to run', { fix: 'give one after -- or set Program in the config' });
  const kernel = new Kernel({ config, program: { path, args: programArgs }, verbose: args.verbose, secrets });
  klibGuard.report = (message) => kernel.log.error(message);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // Our stdout went away (e.g. `uk run … | head`): keep the program and the other drivers running.
    if (kernel.console.setEnabled('serial', false)) kernel.log.warn(`serial console disabled: stdout ${err.code ?? err.message}`);
  });
  // Looks for setpriv (the parent-death signal) while the klibs load; supervise uses the answer.
  if (kernel.settings.parentDeathSignal !== null) void setprivOnce();
  const boot = await kernel.boot();
  if (args.strict && boot.problems.length > 0) {
    await kernel.stop();
    return fail(`--strict: ${boot.problems.length} problem(s) at boot; not starting the program`);
  }
  let statsTimer: { cancel(): void } | undefined;
  if (args.statsIntervalSeconds) {
    statsTimer = kernel.timers.periodic(args.statsIntervalSeconds * 1000, () => {
      for (const line of kernel.stats.lines()) kernel.log.info(`stats ${line}`);
    });
  }
  const result = await supervise(kernel, { path, args: programArgs, forwardSignals: true });
  statsTimer?.cancel();
  if (args.verbose || kernel.stats.hasLosses()) for (const line of kernel.stats.lines()) say(`stats ${line}`);
  return result.exitCode;
}

async function validate(args: CliArgs): Promise<number> {
  const result = await validateConfig(args.config as string);
  for (const warning of result.warnings) process.stdout.write(`warning: ${warning}\n`);
  for (const problem of result.problems) process.stdout.write(`error ${describeWithCode(problem)}\n`);
  if (result.problems.length > 0) {
    process.stdout.write(`${args.config}: ${result.problems.length} problem(s)\n`);
    return 1;
  }
  process.stdout.write(`${args.config}: OK; klibs load in this order: ${result.order.join(', ') || '(none)'}\n`);
  return 0;
}

async function listKlibs(args: CliArgs): Promise<number> {
  const config = args.config ? loadOpsConfig(args.config) : undefined;
  const entries = [...new Set([...BUILTIN_KLIBS, ...(config?.klibs ?? [])])];
  for (const entry of entries) {
    try {
      const { klib, version: v, file } = await resolveKlib(entry, config?.baseDir ?? process.cwd());
      const deps =
        typeof klib.dependencies === 'function'
          ? `${dependenciesOf(klib, undefined).join(', ') || 'none'} (more depending on configuration)`
          : dependenciesOf(klib, undefined).join(', ') || 'none';
      process.stdout.write(`${klib.name.padEnd(12)} ${(v ?? '-').padEnd(8)} deps: ${deps}  ${args.verbose ? file : ''}\n`.trimEnd() + '\n');
    } catch (err) {
      process.stdout.write(`${entry.padEnd(12)} ${'-'.padEnd(8)} not available: ${reasonOf(err)}\n`);
    }
  }
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  // Before any klib is imported: a klib's crash or process.exit() must not end uk.
  klibGuard.install();
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (err) {
    return fail(reasonOf(err));
  }
  try {
    switch (args.command) {
      case 'help':
        process.stdout.write(HELP);
        return 0;
      case 'version':
        process.stdout.write(`${coreVersion()}\n`);
        return 0;
      case 'validate':
        return await validate(args);
      case 'klibs':
        return await listKlibs(args);
      case 'run':
        return await run(args);
    }
  } catch (err) {
    return fail(isUkError(err) ? describeWithCode(err) : reasonOf(err));
  }
}

const code = await main(process.argv.slice(2));
// Exit now: klibs may hold sockets or timers we have already flushed through.
process.exit(code);
