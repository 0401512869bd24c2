/**
 * CloudWatch metrics as a recorder: what was published, per namespace.
 *
 * Modelled (Amazon CloudWatch API Reference: PutMetricData, MetricDatum, StatisticSet, Dimension):
 * - PutMetricData(Namespace, MetricData[]): each datum keeps MetricName, Dimensions, Value or
 *   StatisticValues {SampleCount, Sum, Minimum, Maximum} or Values/Counts, Unit, Timestamp (default: the
 *   clock) and StorageResolution. Checks the documented constraints, with the awsQuery error codes the
 *   service uses: Namespace and MetricName required (MissingParameter), a Namespace starting with
 *   "AWS/" (InvalidParameterValue), at most 1000 datums and 30 dimensions per datum
 *   (InvalidParameterValue), Value together with StatisticValues or Values (InvalidParameterCombination).
 * - `sum(namespace, metricName, dimensions?)`: Value, StatisticValues.Sum and Σ Values×Counts of every
 *   matching datum (dimensions given = the datum has exactly those dimensions).
 * - Metrics extracted from log events in the embedded metric format (CloudWatch User Guide: "Specification:
 *   Embedded metric format"), as CloudWatch Logs extracts them from a log group (`extractEmf`, which the Logs
 *   model calls for every event it stores): a JSON object whose `_aws` member has a number `Timestamp` and a
 *   `CloudWatchMetrics` array of directives, each with a string `Namespace`, `Dimensions` (an array of dimension
 *   sets, each an array of at most 30 member names whose values are strings) and `Metrics` (at most 100, each with a
 *   `Name` and an optional `Unit`), each metric's value the member of its name: a number, or an array of at most
 *   100 numbers. Every dimension set of a directive gives each metric a datum (`Values` for an array). An event that
 *   breaks any of these rules gives no metric at all and counts in `emfRejected` (CloudWatch Logs keeps the event
 *   and extracts nothing). `datums()` holds both kinds; `putMetricDataCalls` counts the API's.
 *
 * Not modelled: reading metrics back over the API (GetMetricData, GetMetricStatistics, ListMetrics),
 * alarms, dashboards, entity data, the two-week/past-timestamp limits and unit validation.
 */
import { AwsServiceError, type Input, optionalString, toDate } from './errors';

export interface Dimension {
  readonly Name: string;
  readonly Value: string;
}

export interface MetricDatum {
  readonly MetricName: string;
  readonly Dimensions: readonly Dimension[];
  readonly Value?: number;
  readonly Values?: readonly number[];
  readonly Counts?: readonly number[];
  readonly StatisticValues?: { readonly SampleCount: number; readonly Sum: number; readonly Minimum: number; readonly Maximum: number };
  readonly Unit?: string;
  readonly Timestamp: Date;
  readonly StorageResolution?: number;
}

export class CloudWatchModel {
  private readonly byNamespace = new Map<string, MetricDatum[]>();
  /** PutMetricData requests accepted. */
  putMetricDataCalls = 0;
  /** Log events that looked like EMF (an `_aws` member) but broke the specification: no metric came of them. */
  emfRejected = 0;

  constructor(private readonly options: { readonly clock: () => Date }) {}

  /** Every datum published to `namespace` (or to every namespace), in order. */
  datums(namespace?: string): MetricDatum[] {
    if (namespace !== undefined) return [...(this.byNamespace.get(namespace) ?? [])];
    return [...this.byNamespace.values()].flat();
  }

  namespaces(): string[] {
    return [...this.byNamespace.keys()];
  }

  /** The sum of a metric's values over every datum with that name (and exactly these dimensions, if given). */
  sum(namespace: string, metricName: string, dimensions?: Readonly<Record<string, string>>): number {
    let total = 0;
    for (const d of this.datums(namespace)) {
      if (d.MetricName !== metricName) continue;
      if (dimensions && !sameDimensions(d.Dimensions, dimensions)) continue;
      if (d.Value !== undefined) total += d.Value;
      if (d.StatisticValues) total += d.StatisticValues.Sum;
      if (d.Values) d.Values.forEach((v, i) => (total += v * (d.Counts?.[i] ?? 1)));
    }
    return total;
  }

  putMetricData(input: Input): Record<string, never> {
    const namespace = optionalString(input, 'Namespace');
    if (namespace === undefined) throw new AwsServiceError('MissingParameter', 'The parameter Namespace is required.');
    if (namespace.startsWith('AWS/')) throw new AwsServiceError('InvalidParameterValue', `The value AWS/ for parameter Namespace is invalid.`);
    const raw = input.MetricData;
    if (!Array.isArray(raw) || raw.length === 0) throw new AwsServiceError('MissingParameter', 'The parameter MetricData is required.');
    if (raw.length > 1000) throw new AwsServiceError('InvalidParameterValue', `The collection MetricData must not have a size greater than 1000.`);
    const parsed = raw.map((item: Input, i) => {
      const name = optionalString(item, 'MetricName');
      if (name === undefined) throw new AwsServiceError('MissingParameter', `The parameter MetricData.member.${i + 1}.MetricName is required.`);
      const dims = Array.isArray(item.Dimensions) ? (item.Dimensions as Dimension[]).map((d) => ({ Name: String(d.Name), Value: String(d.Value) })) : [];
      if (dims.length > 30) throw new AwsServiceError('InvalidParameterValue', `The collection MetricData.member.${i + 1}.Dimensions must not have a size greater than 30.`);
      const stats = item.StatisticValues as MetricDatum['StatisticValues'] | undefined;
      const values = Array.isArray(item.Values) ? (item.Values as number[]) : undefined;
      if (typeof item.Value === 'number' && (stats || values)) {
        throw new AwsServiceError('InvalidParameterCombination', `The parameters MetricData.member.${i + 1}.Value and MetricData.member.${i + 1}.StatisticValues are mutually exclusive and you have specified both.`);
      }
      const datum: MetricDatum = {
        MetricName: name,
        Dimensions: dims,
        ...(typeof item.Value === 'number' ? { Value: item.Value } : {}),
        ...(values ? { Values: values } : {}),
        ...(Array.isArray(item.Counts) ? { Counts: item.Counts as number[] } : {}),
        ...(stats ? { StatisticValues: stats } : {}),
        ...(typeof item.Unit === 'string' ? { Unit: item.Unit } : {}),
        Timestamp: toDate(item.Timestamp) ?? this.options.clock(),
        ...(typeof item.StorageResolution === 'number' ? { StorageResolution: item.StorageResolution } : {}),
      };
      return datum;
    });
    this.record(namespace, parsed);
    this.putMetricDataCalls++;
    return {};
  }

  /** Extracts the metrics of one log event, when it is an EMF document (see the header); other events are ignored. */
  extractEmf(message: string): void {
    let doc: unknown;
    try {
      doc = JSON.parse(message);
    } catch {
      return;
    }
    if (!isObject(doc) || !('_aws' in doc)) return;
    const extracted = emfDatums(doc);
    if (extracted === undefined) {
      this.emfRejected++;
      return;
    }
    for (const [namespace, datums] of extracted) this.record(namespace, datums);
  }

  private record(namespace: string, datums: readonly MetricDatum[]): void {
    const list = this.byNamespace.get(namespace) ?? [];
    list.push(...datums);
    this.byNamespace.set(namespace, list);
  }

  invoke(operation: string, input: Input): unknown {
    if (operation === 'PutMetricData') return this.putMetricData(input);
    throw new AwsServiceError('UnknownOperationException', `The stand-in does not implement cloudwatch:${operation}`);
  }
}

function sameDimensions(have: readonly Dimension[], want: Readonly<Record<string, string>>): boolean {
  const entries = Object.entries(want);
  return have.length === entries.length && entries.every(([k, v]) => have.some((d) => d.Name === k && d.Value === v));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The datums of an EMF document by namespace, or undefined when it breaks the specification anywhere. */
function emfDatums(doc: Record<string, unknown>): [string, MetricDatum[]][] | undefined {
  const meta = doc._aws;
  if (!isObject(meta) || typeof meta.Timestamp !== 'number' || !Array.isArray(meta.CloudWatchMetrics)) return undefined;
  const timestamp = new Date(meta.Timestamp);
  const out: [string, MetricDatum[]][] = [];
  for (const directive of meta.CloudWatchMetrics as unknown[]) {
    if (!isObject(directive) || typeof directive.Namespace !== 'string' || directive.Namespace.startsWith('AWS/')) return undefined;
    if (!Array.isArray(directive.Dimensions) || !Array.isArray(directive.Metrics) || directive.Metrics.length > 100) return undefined;
    const sets: Dimension[][] = [];
    for (const set of directive.Dimensions as unknown[]) {
      if (!Array.isArray(set) || set.length > 30 || !set.every((name) => typeof name === 'string' && typeof doc[name] === 'string')) return undefined;
      sets.push((set as string[]).map((name) => ({ Name: name, Value: doc[name] as string })));
    }
    const datums: MetricDatum[] = [];
    for (const metric of directive.Metrics as unknown[]) {
      if (!isObject(metric) || typeof metric.Name !== 'string' || (metric.Unit !== undefined && typeof metric.Unit !== 'string')) return undefined;
      const value = doc[metric.Name];
      const values = typeof value === 'number' ? undefined : value;
      if (values !== undefined && (!Array.isArray(values) || values.length === 0 || values.length > 100 || !values.every((v) => typeof v === 'number'))) return undefined;
      for (const dims of sets) {
        datums.push({
          MetricName: metric.Name,
          Dimensions: dims,
          ...(typeof value === 'number' ? { Value: value } : { Values: values as number[] }),
          ...(typeof metric.Unit === 'string' ? { Unit: metric.Unit } : {}),
          Timestamp: timestamp,
        });
      }
    }
    out.push([directive.Namespace, datums]);
  }
  return out;
}
