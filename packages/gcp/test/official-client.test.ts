/**
 * The emulators against Google's own client: @google-cloud/logging (REST transport) finds the
 * metadata emulator through GCE_METADATA_HOST, takes its token, and its entries.write requests
 * pass the emulator's checks. If Google's client and the gcp klib both pass, the emulator is not
 * merely agreeing with the klib.
 */
import t from 'tap';
import { Logging } from '@google-cloud/logging';
import { emulators, INSTANCE, PROJECT, ZONE } from './helpers.js';

t.test('@google-cloud/logging writes through the emulators', async (t) => {
  const e = await emulators(t);
  const saved = process.env.GCE_METADATA_HOST;
  process.env.GCE_METADATA_HOST = e.metadata.host;
  t.teardown(() => {
    if (saved === undefined) delete process.env.GCE_METADATA_HOST;
    else process.env.GCE_METADATA_HOST = saved;
  });
  const url = new URL(e.logging.url);
  const logging = new Logging({
    projectId: PROJECT,
    apiEndpoint: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    fallback: 'rest',
  } as ConstructorParameters<typeof Logging>[0]);
  const log = logging.log('official');
  const resource = { type: 'gce_instance', labels: { project_id: PROJECT, instance_id: INSTANCE, zone: ZONE } };
  await log.write(
    [log.entry({ resource, severity: 'INFO' }, 'text from the official client'), log.entry({ resource, severity: 'ERROR' }, { structured: true, n: 1 })],
    { partialSuccess: true },
  );
  t.same(e.logging.problems, [], 'the official client passes the schema checks');
  // The client adds an entry of its own (its instrumentation info) the first time it writes.
  const mine = e.logging.sorted(`projects/${PROJECT}/logs/official`).filter((x) => !x.jsonPayload?.['logging.googleapis.com/diagnostic']);
  t.same(
    mine.map((x) => x.textPayload ?? x.jsonPayload),
    ['text from the official client', { structured: true, n: 1 }],
  );
  t.ok(e.metadata.tokenRequests >= 1, 'it took its token from the metadata emulator');
  t.ok(
    e.metadata.requests.every((r) => r.flavor),
    'with Metadata-Flavor: Google',
  );
});
