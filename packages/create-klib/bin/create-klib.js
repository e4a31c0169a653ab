#!/usr/bin/env node
// Thin launcher (`npm init @uk/klib` runs this bin); the CLI lives in dist/main.js.
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() });
