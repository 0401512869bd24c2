/**
 * Injected faults: rules matched against each request (service, operation, a predicate on the parsed
 * input), each good for `times` matching requests (default: all of them). The HTTP layer asks
 * `take()` once per request, after authentication, and acts on the rule it gets back.
 */

export type ServiceName = 'secretsmanager' | 'kms' | 'monitoring' | 'logs' | 'sts' | 's3' | 'lambda';

export type FaultKind =
  /** AccessDeniedException (S3, STS: AccessDenied) with AWS's "User: ... is not authorized" message. */
  | 'access-denied'
  /** ExpiredTokenException (STS, S3, CloudWatch: ExpiredToken). */
  | 'expired-token'
  /** ThrottlingException (CloudWatch, STS: Throttling; S3: 503 SlowDown; Lambda: 429 TooManyRequestsException). */
  | 'throttle'
  /** HTTP 500: InternalServiceError (Secrets Manager), KMSInternalException, ServiceUnavailableException (Logs), InternalServiceError → InternalServiceFault (CloudWatch), InternalFailure (STS), InternalError (S3). */
  | 'server-error'
  /** Answer correctly after `delayMs`. */
  | 'slow'
  /** Accept the request and never answer (until the stand-in closes). */
  | 'hang'
  /** Destroy the connection without an answer. */
  | 'reset';

export interface FaultRule {
  readonly service?: ServiceName;
  readonly operation?: string;
  readonly kind: FaultKind;
  /** How many matching requests get the fault. @default every one */
  readonly times?: number;
  /** Apply the request's change first, then fail it (the answer is lost): for reset, hang and the error kinds. */
  readonly applied?: boolean;
  /** For `slow` (and before any other kind): wait this long first. */
  readonly delayMs?: number;
  /** Only requests whose parsed input satisfies this. */
  readonly match?: (input: Readonly<Record<string, unknown>>) => boolean;
}

/** A rule as added: how often it has fired so far. */
export interface ActiveFault {
  readonly rule: FaultRule;
  /** Matching requests that got the fault. */
  readonly hits: number;
  /** Takes the rule out. */
  remove(): void;
}

class Entry implements ActiveFault {
  hits = 0;
  constructor(
    readonly rule: FaultRule,
    private readonly owner: Faults,
  ) {}
  remove(): void {
    this.owner.remove(this);
  }
  exhausted(): boolean {
    return this.rule.times !== undefined && this.hits >= this.rule.times;
  }
}

export class Faults {
  private entries: Entry[] = [];

  add(rule: FaultRule): ActiveFault {
    if (rule.times !== undefined && (!Number.isInteger(rule.times) || rule.times < 1)) throw new RangeError(`times must be a positive whole number, got ${rule.times}`);
    const entry = new Entry(rule, this);
    this.entries.push(entry);
    return entry;
  }

  clear(): void {
    this.entries = [];
  }

  /** @internal */
  remove(entry: ActiveFault): void {
    this.entries = this.entries.filter((e) => e !== entry);
  }

  /** The first live rule matching this request, counted as fired; undefined = answer normally. */
  take(service: ServiceName, operation: string, input: Readonly<Record<string, unknown>>): FaultRule | undefined {
    for (const entry of this.entries) {
      const { rule } = entry;
      if (entry.exhausted()) continue;
      if (rule.service !== undefined && rule.service !== service) continue;
      if (rule.operation !== undefined && rule.operation !== operation) continue;
      if (rule.match && !rule.match(input)) continue;
      entry.hits += 1;
      return rule;
    }
    return undefined;
  }
}
