#!/usr/bin/env node
// The peer for bench/gcp.mjs: what a program would do to ship its output to Cloud Logging with
// Google's own library, @google-cloud/logging: read lines from stdin and write them as entries
// (one write per chunk read, at most 8 writes in flight, stdin paused beyond that so nothing is
// dropped). It finds its token through GCE_METADATA_HOST as uk does; the API endpoint is the
// emulator's (REST transport, plain http on loopback).
//
//   node bench/gcp-peer.mjs ENDPOINT_URL PROJECT INSTANCE_ID ZONE LOG_ID < lines
import { Logging } from '@google-cloud/logging';

const [endpoint, projectId, instanceId, zone, logId] = process.argv.slice(2);
const url = new URL(endpoint);
const logging = new Logging({ projectId, apiEndpoint: url.hostname, port: Number(url.port), protocol: 'http', fallback: 'rest' });
const log = logging.log(logId);
const resource = { type: 'gce_instance', labels: { project_id: projectId, instance_id: instanceId, zone } };
const MAX_IN_FLIGHT = 8;

let inFlight = 0;
let failed = 0;
let ended = false;
let tail = '';

function done() {
  if (!ended || inFlight > 0) return;
  if (failed > 0) process.stderr.write(`gcp-peer: ${failed} lines failed\n`);
  process.exit(failed > 0 ? 1 : 0);
}

function send(lines) {
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
}

process.stdin.on('data', (chunk) => {
  const lines = (tail + chunk.toString('utf8')).split('\n');
  tail = lines.pop();
  send(lines);
});
process.stdin.on('end', () => {
  if (tail) send([tail]);
  ended = true;
  done();
});
setTimeout(() => {
  process.stderr.write('gcp-peer: time limit\n');
  process.exit(2);
}, 600_000).unref();
