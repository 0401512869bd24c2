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
    const list = this.byNamespace.get(namespace) ?? [];
    list.push(...parsed);
    this.byNamespace.set(namespace, list);
    return {};
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
