#!/usr/bin/env node
// webg: the web server from the Nanos klib posts, in Node. It prints "just a test" at start and
// "log N" for every request, so you can watch each line travel through uk's console drivers.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
let count = 0;

console.log('just a test');

const server = createServer((req, res) => {
  count += 1;
  console.log(`log ${count}`);
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Welcome to my website!');
});

server.on('error', (err) => {
  console.error(`webg: ${err.message}`);
  process.exit(1);
});

server.listen(port, () => console.error(`webg: listening on port ${port}`));

function shutDown(signal) {
  console.log(`webg: shutting down (${signal})`);
  server.close(() => process.exit(0));
  // Keep-alive connections can hold close() open; do not wait for them.
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}

process.once('SIGTERM', () => shutDown('SIGTERM'));
process.once('SIGINT', () => shutDown('SIGINT'));
