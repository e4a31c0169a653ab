#!/usr/bin/env node
// Extracts the service models the emulators check requests against from botocore, the AWS SDK
// for Python's data package (published by AWS on PyPI, Apache-2.0), which ships the complete
// JSON models: shapes, required members, types, enums, min/max and patterns. (The JSON models in
// the aws-sdk v2 npm package are the ".min" variants without constraints, and the v3 clients carry
// no constraints at all, so neither can check a request as the service does.)
//
//   pip download botocore==1.43.107 --no-deps -d /tmp/b && unzip -q /tmp/b/botocore-*.whl 'botocore/data/logs/*' 'botocore/data/cloudwatch/*' -d /tmp/b
//   node scripts/extract-models.mjs /tmp/b 1.43.107
//
// Only the operations the emulators implement are kept, with every shape they reach; the
// documentation strings are dropped. Nothing else is changed.
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';

const [root, version] = process.argv.slice(2);
if (!root || !version) {
  console.error('usage: node scripts/extract-models.mjs BOTOCORE_UNPACKED_DIR BOTOCORE_VERSION');
  process.exit(2);
}

const MODELS = [
  {
    out: 'logs-2014-03-28.json',
    source: 'botocore/data/logs/2014-03-28/service-2.json.gz',
    operations: ['CreateLogGroup', 'CreateLogStream', 'DeleteLogGroup', 'DeleteLogStream', 'PutRetentionPolicy', 'DeleteRetentionPolicy', 'PutLogEvents'],
  },
  {
    out: 'monitoring-2010-08-01.json',
    source: 'botocore/data/cloudwatch/2010-08-01/service-2.json.gz',
    operations: ['PutMetricData'],
  },
];

function strip(value) {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [key, item] of Object.entries(value)) if (key !== 'documentation' && key !== 'documentationUrl') out[key] = strip(item);
    return out;
  }
  return value;
}

for (const model of MODELS) {
  const full = JSON.parse(gunzipSync(readFileSync(join(root, model.source))).toString('utf8'));
  const shapes = {};
  const visit = (name) => {
    if (!name || shapes[name]) return;
    const shape = full.shapes[name];
    if (!shape) throw new Error(`${model.source}: no shape ${name}`);
    shapes[name] = strip(shape);
    for (const member of Object.values(shape.members ?? {})) visit(member.shape);
    visit(shape.member?.shape);
    visit(shape.key?.shape);
    visit(shape.value?.shape);
  };
  const operations = {};
  for (const op of model.operations) {
    const operation = full.operations[op];
    if (!operation) throw new Error(`${model.source}: no operation ${op}`);
    operations[op] = strip(operation);
    visit(operation.input?.shape);
    visit(operation.output?.shape);
    for (const error of operation.errors ?? []) visit(error.shape);
  }
  const sorted = Object.fromEntries(Object.keys(shapes).sort().map((k) => [k, shapes[k]]));
  const out = {
    source: { package: 'botocore (PyPI, published by Amazon Web Services, Apache-2.0)', version, file: model.source },
    metadata: full.metadata,
    operations,
    shapes: sorted,
  };
  writeFileSync(new URL(`../models/${model.out}`, import.meta.url), `${JSON.stringify(out, null, 1)}\n`);
  console.log(`${model.out}: ${model.operations.length} operations, ${Object.keys(sorted).length} shapes`);
}
