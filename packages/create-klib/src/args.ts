/** Command-line arguments of create-klib. */

export interface CreateArgs {
  readonly dir?: string;
  readonly name?: string;
  readonly packageName?: string;
  /** Take every default without asking. */
  readonly yes: boolean;
  readonly help: boolean;
}

export const USAGE = `Usage: npm init @uk/klib <dir> [-- options]
       npx @uk/create-klib <dir> [options]

Creates a uk klib package in <dir> (new or empty): TypeScript source, tests with
@uk/core/testing, a README, ready for npm publish.

Options:
  --name <name>      klib name (default: <dir>'s base name); lowercase letter first, then
                     lowercase letters, digits, "-" or "_"
  --package <name>   npm package name (default: uk-klib-<name>); scoped names such as
                     @acme/uk-klib-audit are fine
  -y, --yes          take the defaults without asking (also when stdin is not a terminal)
  -h, --help         show this help
`;

/** Parses argv; throws an Error whose message says what was wrong. */
export function parseArgs(argv: readonly string[]): CreateArgs {
  let dir: string | undefined;
  let name: string | undefined;
  let packageName: string | undefined;
  let yes = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '' || (inline === undefined && v.startsWith('-'))) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--name') name = value();
    else if (flag === '--package') packageName = value();
    else if (flag === '--yes' || flag === '-y') yes = true;
    else if (flag === '--help' || flag === '-h') help = true;
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else if (dir === undefined) dir = arg;
    else throw new Error(`one directory only, got "${dir}" and "${arg}"`);
  }
  return { dir, name, packageName, yes, help };
}
