/**
 * A loopback emulator of Cloud Monitoring's `timeSeries.create` (`POST
 * /v3/projects/PROJECT/timeSeries`, the route taken from the MetricService HTTP rule in Google's
 * schema). Checked as the service checks it:
 *
 * - a valid bearer token with the monitoring.write scope (401, 403); the project must be this one;
 * - the body against `google.monitoring.v3.CreateTimeSeriesRequest` from
 *   `@google-cloud/monitoring`'s protos.json (see gcp-schema.ts);
 * - 1 to 200 series, each with exactly one point, a metric type and a resource; never the same
 *   series twice in one request; GAUGE points with `endTime` (a `startTime`, if any, equal to it);
 *   points of a series in order and at least 10 s apart; not older than 25 hours or more than
 *   5 minutes ahead;
 * - the Ops Agent's metrics (`agent.googleapis.com/memory/…`, `…/disk/…`): their label keys and
 *   state values, DOUBLE values, and a `gce_instance` resource with this instance's labels.
 *
 * As the service does, series that pass are written even when others fail; the answer is then
 * 400 with a CreateTimeSeriesSummary. A body that does not match the schema writes nothing.
 */
import { googleError, GcpApiEmulator, jsonReply, type GcpApiEmulatorOptions } from './gcp-api.js';
import { parseRfc3339, ProtoSchema, type SchemaProblem } from './gcp-schema.js';
import type { IncomingRequest, Reply } from './loopback-server.js';

export const MONITORING_LIMITS = Object.freeze({
  maxSeriesPerRequest: 200,
  minPointSpacingMs: 10_000,
  maxAgeMs: 25 * 3600_000,
  maxFutureMs: 5 * 60_000,
});

const MONITORING_SCOPE = 'https://www.googleapis.com/auth/monitoring.write';
const SUMMARY_TYPE = 'type.googleapis.com/google.monitoring.v3.CreateTimeSeriesSummary';

/** The Ops Agent metrics the gcp klib writes: label keys and allowed states. */
export const AGENT_METRICS: Readonly<Record<string, { labels: readonly string[]; states: readonly string[] }>> = {
  'agent.googleapis.com/memory/bytes_used': { labels: ['state'], states: ['buffered', 'cached', 'free', 'slab', 'used'] },
  'agent.googleapis.com/memory/percent_used': { labels: ['state'], states: ['buffered', 'cached', 'free', 'slab', 'used'] },
  'agent.googleapis.com/disk/bytes_used': { labels: ['device', 'state'], states: ['free', 'reserved', 'used'] },
  'agent.googleapis.com/disk/percent_used': { labels: ['device', 'state'], states: ['free', 'reserved', 'used'] },
};

export interface StoredPoint {
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly resource: { readonly type: string; readonly labels: Readonly<Record<string, string>> };
  /** Realtime ms of endTime. */
  readonly endTime: number;
  readonly value: number;
  /** Key of the series (metric, labels, resource). */
  readonly series: string;
}

function seriesKey(metric: string, labels: Record<string, string>, resource: { type?: string; labels?: Record<string, string> }): string {
  const sorted = (o: Record<string, string> | undefined) => JSON.stringify(Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${metric}|${sorted(labels)}|${resource.type ?? ''}|${sorted(resource.labels)}`;
}

export class GcpMonitoringEmulator extends GcpApiEmulator {
  protected readonly scope = MONITORING_SCOPE;
  protected readonly rpcName = 'CreateTimeSeries';
  readonly schema = ProtoSchema.load('monitoring');
  readonly #pathPattern: RegExp;
  readonly #last = new Map<string, number>();
  /** Every point written, in arrival order. */
  readonly points: StoredPoint[] = [];
  /** Every problem found in requests. */
  readonly problems: (SchemaProblem | string)[] = [];
  /** Series refused (not written). */
  refusedSeries = 0;

  constructor(options: GcpApiEmulatorOptions = {}) {
    super(options);
    const rule = this.schema.httpRule('google.monitoring.v3.MetricService', 'CreateTimeSeries');
    // /v3/{name=projects/*}/timeSeries → /v3/(projects/[^/]+)/timeSeries
    this.#pathPattern = new RegExp(`^${rule.path.replace(/\{name=([^}]+)\}/, (_, p: string) => `(${p.replaceAll('*', '[^/]+')})`)}$`);
  }

  /** Points of one metric type (all when omitted). */
  pointsOf(metric?: string): StoredPoint[] {
    return metric === undefined ? [...this.points] : this.points.filter((p) => p.metric === metric);
  }

  protected route(request: IncomingRequest, path: string): { reply: Reply; items: number } {
    const match = this.#pathPattern.exec(path);
    if (!match) return { reply: googleError(404, `The requested URL ${path} was not found on this server.`), items: 0 };
    if (request.method !== 'POST') return { reply: googleError(405, `Method ${request.method} not allowed`), items: 0 };
    const name = match[1] as string;
    if (name !== `projects/${this.projectId}`)
      return { reply: googleError(403, `Permission monitoring.timeSeries.create denied (or the resource may not exist) on ${name}.`), items: 0 };
    const parsed = this.parseBody(request);
    if ('reply' in parsed) return { reply: parsed.reply, items: 0 };
    const body = parsed.body as { name?: unknown; timeSeries?: unknown };
    const series = Array.isArray(body?.timeSeries) ? (body.timeSeries as Record<string, unknown>[]) : [];
    const problems = this.schema.check('google.monitoring.v3.CreateTimeSeriesRequest', body);
    if (problems.length > 0) {
      this.problems.push(...problems);
      return { reply: googleError(400, (problems[0] as SchemaProblem).message), items: series.length };
    }
    if (body.name !== undefined && body.name !== name)
      return { reply: googleError(400, `name ${JSON.stringify(body.name)} does not match the URL (${name})`), items: series.length };
    if (series.length === 0) return { reply: googleError(400, 'Field timeSeries had an invalid value: at least one TimeSeries is required.'), items: 0 };
    if (series.length > MONITORING_LIMITS.maxSeriesPerRequest) {
      return {
        reply: googleError(
          400,
          `Field timeSeries had an invalid value: A maximum of ${MONITORING_LIMITS.maxSeriesPerRequest} TimeSeries can be written in a single request.`,
        ),
        items: series.length,
      };
    }
    const now = this.clock.now();
    const errors: string[] = [];
    const inRequest = new Set<string>();
    series.forEach((ts, index) => {
      const problem = this.#checkSeries(ts, index, now, inRequest);
      if (problem) errors.push(problem);
    });
    if (errors.length === 0) return { reply: jsonReply({}), items: series.length };
    this.refusedSeries += errors.length;
    this.problems.push(...errors);
    const summary = {
      '@type': SUMMARY_TYPE,
      totalPointCount: series.length,
      successPointCount: series.length - errors.length,
      errors: [{ status: { code: 3 }, pointCount: errors.length }],
    };
    return { reply: googleError(400, `One or more TimeSeries could not be written: ${errors.join('; ')}`, [summary]), items: series.length };
  }

  /** Checks one series and writes it if it passes; the problem otherwise. */
  #checkSeries(ts: Record<string, unknown>, index: number, now: number, inRequest: Set<string>): string | undefined {
    const at = `timeSeries[${index}]`;
    const metric = ts.metric as { type?: string; labels?: Record<string, string> } | undefined;
    const resource = ts.resource as { type?: string; labels?: Record<string, string> } | undefined;
    if (!metric?.type) return `${at}: Field timeSeries[${index}].metric.type is required`;
    if (!resource?.type) return `${at}: Field timeSeries[${index}].resource.type is required`;
    const points = (ts.points as Record<string, unknown>[] | undefined) ?? [];
    if (points.length !== 1) return `${at}: Field timeSeries[${index}].points had an invalid value: Only one point can be written per TimeSeries per request.`;
    if (ts.metricKind !== undefined && ts.metricKind !== 'GAUGE')
      return `${at}: metricKind ${typeof ts.metricKind === 'string' ? ts.metricKind : JSON.stringify(ts.metricKind)} is not GAUGE`;
    const labels = metric.labels ?? {};
    const known = AGENT_METRICS[metric.type];
    if (known) {
      for (const key of Object.keys(labels))
        if (!known.labels.includes(key)) return `${at}: Unrecognized metric label ${JSON.stringify(key)} for ${metric.type}`;
      for (const key of known.labels) if (!labels[key]) return `${at}: Metric label ${JSON.stringify(key)} of ${metric.type} is missing`;
      if (!known.states.includes(labels.state as string)) return `${at}: state ${JSON.stringify(labels.state)} is not one of ${known.states.join(', ')}`;
      if (ts.valueType !== undefined && ts.valueType !== 'DOUBLE')
        return `${at}: Value type for metric ${metric.type} must be DOUBLE, but is ${typeof ts.valueType === 'string' ? ts.valueType : JSON.stringify(ts.valueType)}.`;
    } else if (metric.type.startsWith('agent.googleapis.com/')) {
      return `${at}: Unknown metric: ${metric.type}`;
    }
    if (resource.type === 'gce_instance') {
      const expected: Record<string, string> = { project_id: this.projectId, instance_id: this.instanceId, zone: this.zone };
      for (const [key, value] of Object.entries(resource.labels ?? {})) {
        if (!Object.hasOwn(expected, key)) return `${at}: Unrecognized resource label ${JSON.stringify(key)} for gce_instance`;
        if (value !== expected[key]) return `${at}: resource label ${key}=${JSON.stringify(value)} does not match this instance (${expected[key]})`;
      }
      if (!resource.labels?.instance_id || !resource.labels?.zone) return `${at}: gce_instance needs the labels instance_id and zone`;
    }
    const point = points[0] as { interval?: { endTime?: string; startTime?: string }; value?: Record<string, unknown> };
    const end = point.interval?.endTime === undefined ? undefined : parseRfc3339(point.interval.endTime);
    if (!end) return `${at}: Field timeSeries[${index}].points[0].interval.end_time is required`;
    if (point.interval?.startTime !== undefined && point.interval.startTime !== point.interval.endTime)
      return `${at}: The start time must be equal to the end time for the gauge metric ${metric.type}.`;
    const endMs = end.seconds * 1000 + Math.floor(end.nanos / 1e6);
    if (endMs < now - MONITORING_LIMITS.maxAgeMs) return `${at}: Points must be written within 25 hours of the current time`;
    if (endMs > now + MONITORING_LIMITS.maxFutureMs) return `${at}: Points must not be written more than 5 minutes in the future`;
    const value = point.value ?? {};
    const kinds = Object.keys(value);
    if (kinds.length !== 1) return `${at}: a point needs exactly one value`;
    if (known && kinds[0] !== 'doubleValue')
      return `${at}: Value type for metric ${metric.type} must be DOUBLE, but is ${String(kinds[0]).replace('Value', '').toUpperCase()}.`;
    const number = Number(value[kinds[0] as string]);
    if (known && !Number.isFinite(number)) return `${at}: the value must be finite`;
    const key = seriesKey(metric.type, labels, resource);
    if (inRequest.has(key))
      return `${at}: Field timeSeries[${index}] had an invalid value: Duplicate TimeSeries encountered. Only one point can be written per TimeSeries per request.`;
    inRequest.add(key);
    const last = this.#last.get(key);
    if (last !== undefined && endMs <= last)
      return `${at}: Points must be written in order. One or more of the points specified had an older start time than the most recent point.`;
    if (last !== undefined && endMs - last < MONITORING_LIMITS.minPointSpacingMs)
      return `${at}: One or more points were written more frequently than the maximum sampling period configured for the metric.`;
    this.#last.set(key, endMs);
    this.points.push({
      metric: metric.type,
      labels: { ...labels },
      resource: { type: resource.type, labels: { ...(resource.labels ?? {}) } },
      endTime: endMs,
      value: number,
      series: key,
    });
    return undefined;
  }
}
