#!/usr/bin/env node
// The peers for bench/gcp.mjs: what a program would do to ship its output to Cloud Logging with
// Google's own libraries, reading lines from stdin:
//
// - `logging`: @google-cloud/logging, one `log.write` of the lines of each chunk read, at most 8
//   writes in flight, stdin paused beyond that so nothing is dropped;
// - `winston`: a winston logger with @google-cloud/logging-winston's transport, `logger.info`
//   per line as an application logs (the transport makes one entries.write per line), stdin
//   paused while the logger's stream is full.
//
// Both find their token through GCE_METADATA_HOST as uk does; the API endpoint is the emulator's
// (REST transport, plain http on loopback). The exit status is 1 if a line failed.
//
//   node bench/gcp-peer.mjs logging|winston ENDPOINT_URL PROJECT INSTANCE_ID ZONE LOG_ID < lines
import { Logging } from '@google-cloud/logging';

const [mode, endpoint, projectId, instanceId, zone, logId] = process.argv.slice(2);
const url = new URL(endpoint);
const clientOptions = { projectId, apiEndpoint: url.hostname, port: Number(url.port), protocol: 'http', fallback: 'rest' };
const resource = { type: 'gce_instance', labels: { project_id: projectId, instance_id: instanceId, zone } };

let failed = 0;
let ended = false;
let tail = '';

/** Splits stdin into lines; `take` gets each chunk's complete lines, `finish` runs at the end. */
function readLines(take, finish) {
  process.stdin.on('data', (chunk) => {
    const lines = (tail + chunk.toString('utf8')).split('\n');
    tail = lines.pop();
    take(lines);
  });
  process.stdin.on('end', () => {
    if (tail) take([tail]);
    ended = true;
    finish();
  });
}

function exit() {
  if (failed > 0) process.stderr.write(`gcp-peer: ${failed} lines failed\n`);
  process.exit(failed > 0 ? 1 : 0);
}

if (mode === 'logging') {
  const log = new Logging(clientOptions).log(logId);
  const MAX_IN_FLIGHT = 8;
  let inFlight = 0;
  const done = () => {
    if (ended && inFlight === 0) exit();
  };
  readLines((lines) => {
    if (lines.length === 0) return;
    const entries = lines.map((line) => log.entry({ resource, severity: 'INFO' }, line));
    inFlight++;
    if (inFlight >= MAX_IN_FLIGHT) process.stdin.pause();
    log
      .write(entries)
      .catch((err) => {
        failed += lines.length;
        process.stderr.write(`gcp-peer: write failed: ${err.message}\n`);
      })
      .finally(() => {
        inFlight--;
        if (inFlight < MAX_IN_FLIGHT && !ended) process.stdin.resume();
        done();
      });
  }, done);
} else if (mode === 'winston') {
  const { default: winston } = await import('winston');
  const { LoggingWinston } = await import('@google-cloud/logging-winston');
  let written = 0;
  let settled = 0;
  const done = () => {
    if (ended && settled === written) exit();
  };
  const transport = new LoggingWinston({
    ...clientOptions,
    logName: logId,
    resource,
    // Called once per write with its outcome (the library's own diagnostic entry rides along).
    defaultCallback: (err) => {
      if (err) {
        failed++;
        process.stderr.write(`gcp-peer: write failed: ${err.message}\n`);
      }
      settled++;
      done();
    },
  });
  const logger = winston.createLogger({ level: 'info', transports: [transport] });
  readLines((lines) => {
    for (const line of lines) logger.info(line);
    written += lines.length;
    if (logger.writableNeedDrain) {
      process.stdin.pause();
      logger.once('drain', () => process.stdin.resume());
    }
  }, done);
} else {
  process.stderr.write(`gcp-peer: unknown mode ${JSON.stringify(mode)} (logging or winston)\n`);
  process.exit(2);
}
setTimeout(() => {
  process.stderr.write('gcp-peer: time limit\n');
  process.exit(2);
}, 600_000).unref();
