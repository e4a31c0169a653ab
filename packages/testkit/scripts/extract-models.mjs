#!/usr/bin/env node
// Extracts the operations the emulators serve, and every shape they reach, from botocore's
// service models (`service-2.json`, in AWS's botocore repository, github.com/boto/botocore),
// without documentation.
//
//   node scripts/extract-models.mjs BOTOCORE_DIR [VERSION]
//
// BOTOCORE_DIR is a checkout of that repository (the directory holding botocore/data); VERSION
// names what was checked out, e.g. `1.43.67 (0e6e2404)`. Plain or gzipped service-2.json both work.
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const MODELS = {
  'logs-2014-03-28': {
    file: 'botocore/data/logs/2014-03-28/service-2.json.gz',
    operations: [
      'CreateLogGroup',
      'CreateLogStream',
      'DeleteLogGroup',
      'DeleteLogStream',
      'PutRetentionPolicy',
      'DeleteRetentionPolicy',
      'PutLogEvents',
      'DescribeLogGroups',
      'DescribeLogStreams',
    ],
  },
  'monitoring-2010-08-01': { file: 'botocore/data/cloudwatch/2010-08-01/service-2.json.gz', operations: ['PutMetricData'] },
};

const [dir, version = 'unknown'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/extract-models.mjs BOTOCORE_DIR [VERSION]');
  process.exit(2);
}

const strip = (value) => {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) if (k !== 'documentation' && k !== 'documentationUrl') out[k] = strip(v);
    return out;
  }
  return value;
};

for (const [name, spec] of Object.entries(MODELS)) {
  const path = join(dir, spec.file);
  const raw = existsSync(path) ? gunzipSync(readFileSync(path)) : readFileSync(path.replace(/\.gz$/, ''));
  const model = JSON.parse(raw.toString('utf8'));
  const operations = {};
  const wanted = new Set();
  const reach = (shape) => {
    if (wanted.has(shape)) return;
    wanted.add(shape);
    const s = model.shapes[shape];
    for (const ref of [s.member, s.key, s.value, ...Object.values(s.members ?? {})]) if (ref) reach(ref.shape);
  };
  for (const op of spec.operations) {
    const o = model.operations[op];
    if (!o) throw new Error(`${name}: no operation ${op}`);
    operations[op] = strip(o);
    for (const ref of [o.input, o.output, ...(o.errors ?? [])]) if (ref) reach(ref.shape);
  }
  const shapes = {};
  for (const shape of [...wanted].sort()) shapes[shape] = strip(model.shapes[shape]);
  const out = {
    source: {
      package: 'botocore (github.com/boto/botocore, published by Amazon Web Services, Apache-2.0)',
      version,
      file: existsSync(path) ? spec.file : spec.file.replace(/\.gz$/, ''),
    },
    metadata: model.metadata,
    operations,
    shapes,
  };
  writeFileSync(new URL(`../models/${name}.json`, import.meta.url), `${JSON.stringify(out, null, 1)}\n`);
  console.log(`${name}: ${spec.operations.length} operations, ${wanted.size} shapes`);
}
