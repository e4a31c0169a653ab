/**
 * A real rsyslogd (Debian's rsyslog, rsyslog-gnutls for TLS) on a loopback high port, with a
 * config that loads only the input it needs and writes what it parsed, one message per line:
 * `PRI|TIMESTAMP|HOSTNAME|APP-NAME|PROCID|MSG`. Its maxMessageSize is rsyslog's default (8k).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import type { TestPki } from '@uk/testkit';
import { tempDir } from './uk.js';

export type Input = 'udp' | 'tcp' | 'tls';

export interface Parsed {
  readonly pri: number;
  readonly timestamp: string;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
  readonly msg: string;
}

/** A port that was free a moment ago (for TCP and UDP alike). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const udp = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    udp.close();
    if (free) return port;
  }
  throw new Error('no free port found');
}

export class Rsyslog {
  readonly input: Input;
  readonly port: number;
  readonly dir: string;
  readonly outFile: string;
  readonly confFile: string;
  #process: ChildProcess | undefined;
  #log = '';
  /** MSG is written JSON-escaped (a message with newlines stays on one line of the output file). */
  readonly #jsonMsg: boolean;

  private constructor(input: Input, port: number, dir: string, jsonMsg: boolean) {
    this.#jsonMsg = jsonMsg;
    this.input = input;
    this.port = port;
    this.dir = dir;
    this.outFile = join(dir, 'messages.txt');
    this.confFile = join(dir, 'rsyslog.conf');
  }

  static async start(input: Input, pki?: TestPki, options: { jsonMsg?: boolean } = {}): Promise<Rsyslog> {
    const dir = tempDir(`uk-rsyslog-${input}-`);
    const server = new Rsyslog(input, await freePort(), dir, options.jsonMsg ?? false);
    server.#writeConfig(pki);
    await server.#spawn();
    return server;
  }

  #writeConfig(pki: TestPki | undefined): void {
    const global = [`workDirectory="${this.dir}"`, 'parser.escapeControlCharactersOnReceive="off"'];
    const lines: string[] = [];
    if (this.input === 'tls') {
      if (!pki) throw new Error('tls needs a PKI');
      global.push(
        'defaultNetstreamDriver="gtls"',
        `defaultNetstreamDriverCAFile="${pki.caFile}"`,
        `defaultNetstreamDriverCertFile="${pki.certFile}"`,
        `defaultNetstreamDriverKeyFile="${pki.keyFile}"`,
      );
      lines.push('module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")');
      lines.push(`input(type="imtcp" port="${this.port}" address="127.0.0.1")`);
    } else if (this.input === 'tcp') {
      lines.push('module(load="imtcp")');
      lines.push(`input(type="imtcp" port="${this.port}" address="127.0.0.1")`);
    } else {
      lines.push('module(load="imudp")');
      // UDP has no flow control: a program's burst of lines arrives faster than rsyslog reads,
      // and the default 208 KiB socket buffer (about 200 small datagrams) overflows. A real
      // server taking bursts over UDP needs the same setting (or TCP).
      lines.push(`input(type="imudp" port="${this.port}" address="127.0.0.1" rcvbufSize="4m")`);
    }
    const conf = [
      `global(${global.join(' ')})`,
      ...lines,
      `template(name="fields" type="string" string="%pri%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msg${this.#jsonMsg ? ':::json' : ''}%\\n")`,
      `action(type="omfile" file="${this.outFile}" template="fields")`,
      '',
    ].join('\n');
    writeFileSync(this.confFile, conf);
  }

  async #spawn(): Promise<void> {
    const pidFile = join(this.dir, 'rsyslogd.pid');
    const child = spawn('rsyslogd', ['-n', '-f', this.confFile, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.#log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.#log += d.toString()));
    let spawnError: Error | undefined;
    child.on('error', (err) => (spawnError = err));
    this.#process = child;
    // Ready once it listens: TCP accepts a connection; for UDP, the pid file appears after the inputs are set up.
    // A generous outer limit: with TLS, rsyslogd loads gnutls and its certificates first, which
    // took over 10 s on a loaded 2-CPU CI machine (the fault matrix runs six cases at once).
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`cannot run rsyslogd (${spawnError.message}): install it with apt-get install -y rsyslog rsyslog-gnutls`);
      if (child.exitCode !== null) throw new Error(`rsyslogd exited with ${child.exitCode}: ${this.#log}`);
      if (await this.#listening(pidFile)) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`rsyslogd did not start listening on ${this.port}: ${this.#log}`);
  }

  async #listening(pidFile: string): Promise<boolean> {
    if (this.input === 'udp')
      return existsSync(pidFile) && readFileSync('/proc/net/udp', 'utf8').includes(`:${this.port.toString(16).toUpperCase().padStart(4, '0')} `);
    const net = await import('node:net');
    return new Promise<boolean>((resolve) => {
      const socket = net.connect(this.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  /** What rsyslogd printed (for failure messages). */
  get log(): string {
    return this.#log;
  }

  /** Stops rsyslogd (SIGTERM) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts rsyslogd again on the same port, appending to the same output file. */
  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }

  /** Every message written so far, parsed. */
  messages(): Parsed[] {
    if (!existsSync(this.outFile)) return [];
    const text = readFileSync(this.outFile, 'utf8');
    return text
      .split('\n')
      .slice(0, -1)
      .map((line) => {
        const [pri, timestamp, hostname, appName, procId, ...msg] = line.split('|');
        return {
          pri: Number(pri),
          timestamp: timestamp as string,
          hostname: hostname as string,
          appName: appName as string,
          procId: procId as string,
          msg: this.#jsonMsg ? (JSON.parse(`"${msg.join('|')}"`) as string) : msg.join('|'),
        };
      });
  }

  /** Waits until `predicate` holds for the messages, or `timeoutMs` passes; returns the messages. */
  async waitFor(predicate: (messages: Parsed[]) => boolean, timeoutMs = 60_000): Promise<Parsed[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const messages = this.messages();
      if (predicate(messages) || Date.now() > deadline) return messages;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
