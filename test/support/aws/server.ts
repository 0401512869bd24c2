/**
 * The HTTP face of the stand-in: one loopback server that answers the AWS SDK v3 clients for Secrets
 * Manager, KMS, CloudWatch, CloudWatch Logs, STS, S3 and Lambda in their own wire protocols, in front of the
 * pure models (secrets-manager.ts, kms.ts, ...). Routing, as the installed clients send requests:
 *
 * - `X-Amz-Target: secretsmanager.* | TrentService.* | Logs_20140328.*` → AWS JSON 1.1;
 *   `GraniteServiceVersion20100801.*` → CloudWatch's AWS JSON 1.0 with awsQueryCompatible (errors also
 *   carry `x-amzn-query-error: <Code>;<Sender|Receiver>`, from which the SDK takes the error code).
 * - A form-encoded `Action=...&Version=...` body → awsQuery (STS), answered in XML.
 * - Signed for `lambda` (or a `/2015-03-31/functions/` path) → Lambda's REST-JSON (`POST
 *   /2015-03-31/functions/{FunctionName}/invocations` = Invoke), answered with the function's payload.
 * - Anything else → S3 REST-XML, path style (`/bucket/key`, which the SDK uses for an IP endpoint).
 *
 * Each request is authenticated from its SigV4 `Authorization` credential scope (the signature is not
 * checked): no signature or an access key the STS model does not know is answered as AWS does
 * (MissingAuthenticationToken / UnrecognizedClientException / InvalidClientTokenId / InvalidAccessKeyId).
 * Then the injected faults apply, then the optional `authorize` hook, then the model. Every request is
 * recorded with its outcome. The `Date` response header stays the real time, so an injected clock
 * never skews the SDK's signing clock (the SDK corrects its clock from that header).
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { CloudWatchModel } from './cloudwatch';
import { AwsServiceError, type Input } from './errors';
import { type FaultKind, type FaultRule, Faults, type ServiceName } from './faults';
import { KmsModel } from './kms';
import { type InvokeOutput, LambdaModel } from './lambda-service';
import { LogsModel } from './logs';
import { S3Model, type StoredObject } from './s3';
import { SecretsManagerModel } from './secrets-manager';
import { DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, type Identity, StsModel } from './sts';
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm, decodeAwsChunked, parseSigV4, toJsonWire, xmlEscape, xmlMembers } from './wire';

export interface AwsStandInOptions {
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '123456789012' */
  readonly accountId?: string;
}

export type RequestOutcome =
  /** Answered with this status (and this error code, if it failed; `fault` if the failure was injected). */
  | { readonly status: number; readonly error?: string; readonly fault?: FaultKind }
  /** Not answered: the connection was reset, or is held open. */
  | { readonly fault: 'reset' | 'hang' };

export interface RecordedRequest {
  readonly service: ServiceName | 'unknown';
  readonly operation: string;
  /** The parsed input: the JSON document, the query form, or S3's bucket/key/headers. */
  readonly input: Input;
  /** From the SigV4 credential scope; '' when the request was not signed. */
  readonly accessKeyId: string;
  readonly at: Date;
  /** Set once the request was answered (or reset, or held). */
  outcome?: RequestOutcome;
}

export interface AuthorizeRequest {
  readonly accessKeyId: string;
  readonly identityArn: string;
  readonly service: ServiceName;
  readonly operation: string;
  readonly input: Input;
  /** The ARN the request acts on, as IAM would evaluate it (undefined for CloudWatch PutMetricData). */
  readonly resource?: string;
}

type Protocol = { readonly kind: 'json'; readonly version: '1.0' | '1.1'; readonly queryCompat: boolean } | { readonly kind: 'query' } | { readonly kind: 'rest-xml' } | { readonly kind: 'rest-json' };

interface ParsedRequest {
  readonly service: ServiceName | 'unknown';
  readonly operation: string;
  readonly protocol: Protocol;
  readonly input: Input;
  readonly accessKeyId?: string;
  /** S3 only. */
  readonly s3?: { readonly method: string; readonly bucket: string; readonly key: string; readonly body: Buffer; readonly headers: http.IncomingHttpHeaders; readonly checksum?: { algorithm: ChecksumAlgorithm; value: string } };
  /** Lambda only: the request body (the event). */
  readonly payload?: Buffer;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer;
}

const TARGETS: Readonly<Record<string, { service: ServiceName; protocol: Protocol }>> = {
  secretsmanager: { service: 'secretsmanager', protocol: { kind: 'json', version: '1.1', queryCompat: false } },
  TrentService: { service: 'kms', protocol: { kind: 'json', version: '1.1', queryCompat: false } },
  Logs_20140328: { service: 'logs', protocol: { kind: 'json', version: '1.1', queryCompat: false } },
  GraniteServiceVersion20100801: { service: 'monitoring', protocol: { kind: 'json', version: '1.0', queryCompat: true } },
};

/** IAM action prefixes (CloudWatch signs as `monitoring` but its actions are `cloudwatch:*`). */
const IAM_PREFIX: Readonly<Record<ServiceName, string>> = { secretsmanager: 'secretsmanager', kms: 'kms', monitoring: 'cloudwatch', logs: 'logs', sts: 'sts', s3: 's3', lambda: 'lambda' };

const LAMBDA_INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/** CloudWatch's awsQuery error codes → the JSON `__type` (the Smithy shape) it sends alongside. */
const CLOUDWATCH_JSON_TYPES: Readonly<Record<string, string>> = {
  InternalServiceError: 'InternalServiceFault',
  InvalidParameterValue: 'InvalidParameterValueException',
  InvalidParameterCombination: 'InvalidParameterCombinationException',
  MissingParameter: 'MissingRequiredParameterException',
};

const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

export class AwsStandIn {
  readonly region: string;
  readonly accountId: string;
  readonly clock: () => Date;
  readonly kms: KmsModel;
  readonly secretsManager: SecretsManagerModel;
  readonly cloudWatch: CloudWatchModel;
  readonly logs: LogsModel;
  readonly sts: StsModel;
  readonly s3: S3Model;
  readonly lambda: LambdaModel;
  readonly faults = new Faults();
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** Errors a model threw that were not AWS errors (stand-in bugs), answered as HTTP 500. */
  readonly unexpectedErrors: unknown[] = [];
  /** Optional IAM stand-in: false answers AccessDenied(Exception). Not consulted for GetCallerIdentity. */
  authorize?: (request: AuthorizeRequest) => boolean;

  private server?: http.Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  private port = 0;

  constructor(options: AwsStandInOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    this.clock = options.clock ?? (() => new Date());
    const common = { region: this.region, accountId: this.accountId, clock: this.clock };
    this.kms = new KmsModel(common);
    this.secretsManager = new SecretsManagerModel({ ...common, kmsKeyUsable: (ref) => this.kms.usable(ref) });
    this.cloudWatch = new CloudWatchModel(common);
    this.logs = new LogsModel({ ...common, metrics: this.cloudWatch });
    this.sts = new StsModel(common);
    this.s3 = new S3Model(common);
    this.lambda = new LambdaModel({ ...common, logs: this.logs });
  }

  /** `http://127.0.0.1:<port>` */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The stand-in's valid test key. */
  get credentials(): { accessKeyId: string; secretAccessKey: string } {
    return { accessKeyId: DEFAULT_ACCESS_KEY_ID, secretAccessKey: DEFAULT_SECRET_ACCESS_KEY };
  }

  /** Options for an SDK v3 client talking to the stand-in: `new SecretsManagerClient(aws.clientConfig())`. */
  clientConfig(credentials: { accessKeyId: string; secretAccessKey: string } = this.credentials): { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } } {
    return { endpoint: this.endpoint, region: this.region, credentials };
  }

  /**
   * Environment for a child process whose SDK clients should reach the stand-in and nothing else: the
   * endpoint, region and test key; no session token, profile, web identity or container credentials;
   * no instance metadata; shared config and credentials files pointed at /dev/null. HOME is left to the
   * caller. Unset variables are `undefined` (spawn drops them), so `{...process.env, ...aws.env()}` is safe.
   */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      AWS_ENDPOINT_URL: this.endpoint,
      AWS_REGION: this.region,
      AWS_DEFAULT_REGION: this.region,
      AWS_ACCESS_KEY_ID: DEFAULT_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: DEFAULT_SECRET_ACCESS_KEY,
      AWS_SESSION_TOKEN: undefined,
      AWS_SECURITY_TOKEN: undefined,
      AWS_CREDENTIAL_EXPIRATION: undefined,
      AWS_PROFILE: undefined,
      AWS_DEFAULT_PROFILE: undefined,
      AWS_ROLE_ARN: undefined,
      AWS_ROLE_SESSION_NAME: undefined,
      AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: undefined,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: undefined,
      AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: undefined,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: undefined,
      AWS_ENDPOINT_URL_KMS: undefined,
      AWS_ENDPOINT_URL_CLOUDWATCH: undefined,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: undefined,
      AWS_ENDPOINT_URL_STS: undefined,
      AWS_ENDPOINT_URL_S3: undefined,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_CONFIG_FILE: '/dev/null',
      ...extra,
    };
  }

  /** @internal use startAwsStandIn() */
  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.unexpectedErrors.push(err);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening and drops every connection, including held ones; running rotations are not awaited. */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  // ---------------------------------------------------------------- request pipeline

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const requestId = randomUUID();
    let parsed: ParsedRequest;
    try {
      parsed = this.parse(req, raw);
    } catch (err) {
      this.requests.push({ service: 'unknown', operation: '', input: {}, accessKeyId: '', at: this.clock(), outcome: { status: 400, error: 'SerializationException' } });
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ __type: 'SerializationException', message: err instanceof Error ? err.message : String(err) }));
      return;
    }
    const entry: RecordedRequest = { service: parsed.service, operation: parsed.operation, input: parsed.input, accessKeyId: parsed.accessKeyId ?? '', at: this.clock() };
    this.requests.push(entry);
    const send = (reply: Reply, fault?: FaultKind, error?: string): void => {
      entry.outcome = { status: reply.status, ...(error ? { error } : {}), ...(fault ? { fault } : {}) };
      res.writeHead(reply.status, { 'x-amzn-requestid': requestId, 'x-amz-request-id': requestId, ...reply.headers });
      res.end(req.method === 'HEAD' ? undefined : reply.body);
    };
    const fail = (err: AwsServiceError, fault?: FaultKind): void => send(this.errorReply(parsed, err, requestId), fault, err.code);

    if (parsed.service === 'unknown') return fail(new AwsServiceError('UnknownOperationException', `The stand-in does not know the service for this request (${parsed.operation}).`));
    const service = parsed.service;
    if (parsed.accessKeyId === undefined) return fail(authError(service, 'missing'));
    const identity = this.sts.identity(parsed.accessKeyId);
    if (!identity) return fail(authError(service, 'unknown'));

    const fault = this.faults.take(service, parsed.operation, parsed.input);
    if (fault?.delayMs) await this.sleep(fault.delayMs);
    if (fault && fault.kind !== 'slow') {
      if (fault.applied) await this.execute(parsed, identity, requestId);
      if (fault.kind === 'hang') {
        entry.outcome = { fault: 'hang' };
        return; // the connection is dropped by close()
      }
      if (fault.kind === 'reset') {
        entry.outcome = { fault: 'reset' };
        req.socket.destroy();
        return;
      }
      return fail(this.faultError(fault, parsed, identity), fault.kind);
    }

    if (this.authorize && !(service === 'sts' && parsed.operation === 'GetCallerIdentity')) {
      const resource = this.resourceOf(parsed);
      const allowed = this.authorize({ accessKeyId: identity.accessKeyId, identityArn: identity.arn, service, operation: parsed.operation, input: parsed.input, resource });
      if (!allowed) return fail(accessDenied(service, parsed.operation, identity.arn, resource));
    }
    const reply = await this.execute(parsed, identity, requestId);
    send(reply, fault?.kind, reply.status >= 300 ? reply.errorCode : undefined);
  }

  /** Runs the operation against its model; AWS errors become error replies, anything else a 500. */
  private async execute(parsed: ParsedRequest, identity: Identity, requestId: string): Promise<Reply & { errorCode?: string }> {
    try {
      return this.success(parsed, await this.dispatch(parsed, identity), requestId);
    } catch (err) {
      if (err instanceof AwsServiceError) return { ...this.errorReply(parsed, err, requestId), errorCode: err.code };
      this.unexpectedErrors.push(err);
      const bug = new AwsServiceError('InternalFailure', `stand-in bug: ${err instanceof Error ? err.message : String(err)}`, 500);
      return { ...this.errorReply(parsed, bug, requestId), errorCode: bug.code };
    }
  }

  private dispatch(parsed: ParsedRequest, identity: Identity): unknown {
    // Only Lambda answers asynchronously (the function runs first); every other model answers at once.
    switch (parsed.service) {
      case 'secretsmanager':
        return this.secretsManager.invoke(parsed.operation, parsed.input);
      case 'kms':
        return this.kms.invoke(parsed.operation, parsed.input);
      case 'monitoring':
        return this.cloudWatch.invoke(parsed.operation, parsed.input);
      case 'logs':
        return this.logs.invoke(parsed.operation, parsed.input);
      case 'sts':
        return this.sts.invoke(parsed.operation, parsed.input, identity.accessKeyId);
      case 's3':
        return this.s3Dispatch(parsed);
      case 'lambda':
        if (parsed.operation !== 'Invoke') throw new AwsServiceError('UnknownOperationException', `The stand-in does not implement lambda:${parsed.operation}`);
        return this.lambda.invokeFunction({ ...(parsed.input as { FunctionName: string; Qualifier?: string; InvocationType?: string; LogType?: string }), Payload: parsed.payload });
      default:
        throw new AwsServiceError('UnknownOperationException', 'unknown service');
    }
  }

  private s3Dispatch(parsed: ParsedRequest): unknown {
    const s3 = parsed.s3 as NonNullable<ParsedRequest['s3']>;
    switch (parsed.operation) {
      case 'PutObject': {
        const h = s3.headers;
        const metadata = Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('x-amz-meta-')).map(([k, v]) => [k.slice('x-amz-meta-'.length), String(v)]));
        return this.s3.putObject({
          Bucket: s3.bucket,
          Key: s3.key,
          Body: s3.body,
          ContentType: header(h, 'content-type'),
          Metadata: metadata,
          ServerSideEncryption: header(h, 'x-amz-server-side-encryption'),
          SSEKMSKeyId: header(h, 'x-amz-server-side-encryption-aws-kms-key-id'),
          Checksum: s3.checksum,
        });
      }
      case 'GetObject':
      case 'HeadObject':
        return this.s3.getObject(s3.bucket, s3.key);
      case 'DeleteObject':
        this.s3.deleteObject(s3.bucket, s3.key);
        return undefined;
      default:
        throw new AwsServiceError('NotImplemented', `A header you provided implies functionality that is not implemented (the stand-in has no S3 ${parsed.operation}).`, 501);
    }
  }

  // ---------------------------------------------------------------- parsing

  private parse(req: http.IncomingMessage, raw: Buffer): ParsedRequest {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const credential = parseSigV4(header(req.headers, 'authorization'), url.searchParams);
    const accessKeyId = credential?.accessKeyId;
    let body = raw;
    const encodings = (header(req.headers, 'content-encoding') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    let trailers: Record<string, string> = {};
    if (encodings.includes('aws-chunked')) ({ payload: body, trailers } = decodeAwsChunked(body));
    if (encodings.includes('gzip')) body = gunzipSync(body);

    const target = header(req.headers, 'x-amz-target');
    if (target !== undefined) {
      const dot = target.lastIndexOf('.');
      const route = TARGETS[target.slice(0, dot)];
      const operation = target.slice(dot + 1);
      const text = body.toString('utf8');
      const input = text.trim() === '' ? {} : (JSON.parse(text) as Input);
      if (!route) return { service: 'unknown', operation: target, protocol: { kind: 'json', version: '1.1', queryCompat: false }, input, accessKeyId };
      return { service: route.service, operation, protocol: route.protocol, input, accessKeyId };
    }
    if (credential?.service === 'lambda' || url.pathname.startsWith('/2015-03-31/functions/')) {
      const invoke = LAMBDA_INVOKE_PATH.exec(url.pathname);
      const operation = invoke && req.method === 'POST' ? 'Invoke' : `${req.method ?? 'GET'} ${url.pathname}`;
      const input: Input = dropUndefined({
        FunctionName: invoke ? decodeURIComponent(invoke[1]) : undefined,
        Qualifier: url.searchParams.get('Qualifier') ?? undefined,
        InvocationType: header(req.headers, 'x-amz-invocation-type'),
        LogType: header(req.headers, 'x-amz-log-type'),
        PayloadBytes: body.length,
      });
      return { service: 'lambda', operation, protocol: { kind: 'rest-json' }, input, accessKeyId, payload: body };
    }
    const contentType = header(req.headers, 'content-type') ?? '';
    if (req.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) {
      const form = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
      const service = credential?.service === 'sts' || credential === undefined ? 'sts' : 'unknown';
      return { service, operation: form.Action ?? '', protocol: { kind: 'query' }, input: form, accessKeyId };
    }
    // S3, path style: /bucket/key
    const segments = url.pathname.split('/').slice(1);
    const bucket = decodeURIComponent(segments[0] ?? '');
    const key = segments.slice(1).map(decodeURIComponent).join('/');
    const method = req.method ?? 'GET';
    const operation = url.searchParams.get('x-id') ?? s3Operation(method, key);
    let checksum: { algorithm: ChecksumAlgorithm; value: string } | undefined;
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = header(req.headers, `x-amz-checksum-${algorithm}`) ?? trailers[`x-amz-checksum-${algorithm}`];
      if (value !== undefined) checksum = { algorithm, value };
    }
    const input: Input = {
      Bucket: bucket,
      ...(key !== '' ? { Key: key } : {}),
      ...(method === 'PUT' ? { ContentLength: body.length } : {}),
      ContentType: header(req.headers, 'content-type'),
      ServerSideEncryption: header(req.headers, 'x-amz-server-side-encryption'),
      SSEKMSKeyId: header(req.headers, 'x-amz-server-side-encryption-aws-kms-key-id'),
      ChecksumMode: header(req.headers, 'x-amz-checksum-mode'),
      ...(checksum ? { ChecksumAlgorithm: checksum.algorithm.toUpperCase(), Checksum: checksum.value } : {}),
    };
    return { service: 's3', operation, protocol: { kind: 'rest-xml' }, input: dropUndefined(input), accessKeyId, s3: { method, bucket, key, body, headers: req.headers, checksum } };
  }

  // ---------------------------------------------------------------- encoding

  private success(parsed: ParsedRequest, output: unknown, requestId: string): Reply {
    const { protocol } = parsed;
    if (protocol.kind === 'json') {
      return { status: 200, headers: { 'content-type': `application/x-amz-json-${protocol.version}` }, body: JSON.stringify(toJsonWire(output ?? {})) };
    }
    if (protocol.kind === 'query') {
      const op = parsed.operation;
      const result = xmlMembers(output as Record<string, unknown>);
      const xml = `<${op}Response xmlns="${STS_NAMESPACE}"><${op}Result>${result}</${op}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${op}Response>`;
      return { status: 200, headers: { 'content-type': 'text/xml' }, body: xml };
    }
    if (protocol.kind === 'rest-json') return lambdaSuccess(output as InvokeOutput);
    return this.s3Success(parsed, output as StoredObject | undefined);
  }

  private s3Success(parsed: ParsedRequest, object: StoredObject | undefined): Reply {
    if (parsed.operation === 'DeleteObject' || !object) return { status: 204, headers: {}, body: '' };
    const headers: Record<string, string> = { etag: object.etag, 'x-amz-server-side-encryption': object.serverSideEncryption };
    if (object.sseKmsKeyId !== undefined) headers['x-amz-server-side-encryption-aws-kms-key-id'] = object.sseKmsKeyId;
    const wantChecksum = parsed.operation === 'PutObject' || header(parsed.s3?.headers ?? {}, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED';
    if (object.checksum && wantChecksum) {
      headers[`x-amz-checksum-${object.checksum.algorithm}`] = object.checksum.value;
      headers['x-amz-checksum-type'] = 'FULL_OBJECT';
    }
    if (parsed.operation === 'PutObject') return { status: 200, headers: { ...headers, 'content-length': '0' }, body: '' };
    for (const [k, v] of Object.entries(object.metadata)) headers[`x-amz-meta-${k}`] = v;
    return {
      status: 200,
      headers: { ...headers, 'content-type': object.contentType, 'content-length': String(object.body.length), 'last-modified': object.lastModified.toUTCString(), 'accept-ranges': 'bytes' },
      body: object.body,
    };
  }

  private errorReply(parsed: ParsedRequest, err: AwsServiceError, requestId: string): Reply {
    const { protocol } = parsed;
    if (protocol.kind === 'json') {
      const type = protocol.queryCompat ? (CLOUDWATCH_JSON_TYPES[err.code] ?? err.code) : err.code;
      const headers: Record<string, string> = { 'content-type': `application/x-amz-json-${protocol.version}`, 'x-amzn-errortype': type };
      if (protocol.queryCompat) headers['x-amzn-query-error'] = `${err.code};${err.fault}`;
      return { status: err.status, headers, body: JSON.stringify({ __type: type, message: err.message }) };
    }
    if (protocol.kind === 'rest-json') {
      // Lambda's REST-JSON error: the code in x-amzn-ErrorType, `Type` User/Service and `message` in the body.
      return { status: err.status, headers: { 'content-type': 'application/json', 'x-amzn-errortype': err.code }, body: JSON.stringify({ Type: err.fault === 'Sender' ? 'User' : 'Service', message: err.message }) };
    }
    if (protocol.kind === 'query') {
      const xml = `<ErrorResponse xmlns="${STS_NAMESPACE}"><Error><Type>${err.fault}</Type><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
      return { status: err.status, headers: { 'content-type': 'text/xml' }, body: xml };
    }
    const extra = Object.entries(err.extra)
      .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
      .join('');
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message>${extra}<RequestId>${requestId}</RequestId><HostId>stand-in</HostId></Error>`;
    return { status: err.status, headers: { 'content-type': 'application/xml' }, body: xml };
  }

  private faultError(fault: FaultRule, parsed: ParsedRequest, identity: Identity): AwsServiceError {
    const service = parsed.service as ServiceName;
    switch (fault.kind) {
      case 'access-denied':
        return accessDenied(service, parsed.operation, identity.arn, this.resourceOf(parsed));
      case 'expired-token':
        if (service === 's3') return new AwsServiceError('ExpiredToken', 'The provided token has expired.', 400);
        if (service === 'sts' || service === 'monitoring') return new AwsServiceError('ExpiredToken', 'The security token included in the request is expired', 400);
        return new AwsServiceError('ExpiredTokenException', 'The security token included in the request is expired', 400);
      case 'throttle':
        if (service === 's3') return new AwsServiceError('SlowDown', 'Please reduce your request rate.', 503);
        if (service === 'sts' || service === 'monitoring') return new AwsServiceError('Throttling', 'Rate exceeded', 400);
        if (service === 'lambda') return new AwsServiceError('TooManyRequestsException', 'Rate Exceeded.', 429);
        return new AwsServiceError('ThrottlingException', 'Rate exceeded', 400);
      default:
        return serverError(service);
    }
  }

  private resourceOf(parsed: ParsedRequest): string | undefined {
    switch (parsed.service) {
      case 'secretsmanager':
        return this.secretsManager.resourceArn(parsed.input);
      case 'kms':
        return this.kms.resourceArn(parsed.input);
      case 'logs':
        return this.logs.resourceArn(parsed.input);
      case 's3':
        return `arn:aws:s3:::${parsed.s3?.bucket ?? ''}${parsed.s3?.key ? `/${parsed.s3.key}` : ''}`;
      case 'lambda':
        return this.lambda.resourceArn(String(parsed.input.FunctionName ?? '*'));
      case 'sts':
        return `arn:aws:sts::${this.accountId}:*`;
      default:
        return undefined;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }
}

function accessDenied(service: ServiceName, operation: string, arn: string, resource: string | undefined): AwsServiceError {
  const action = `${IAM_PREFIX[service]}:${operation}`;
  const message = `User: ${arn} is not authorized to perform: ${action}${resource ? ` on resource: ${resource}` : ''} because no identity-based policy allows the ${action} action`;
  if (service === 's3' || service === 'sts') return new AwsServiceError('AccessDenied', message, 403);
  if (service === 'monitoring') return new AwsServiceError('AccessDenied', message, 403);
  if (service === 'lambda') return new AwsServiceError('AccessDeniedException', message, 403);
  return new AwsServiceError('AccessDeniedException', message, 400);
}

function serverError(service: ServiceName): AwsServiceError {
  switch (service) {
    case 'secretsmanager':
      return new AwsServiceError('InternalServiceError', 'An error occurred on the server side.', 500);
    case 'kms':
      return new AwsServiceError('KMSInternalException', 'The request was rejected because an internal exception occurred.', 500);
    case 'logs':
      return new AwsServiceError('ServiceUnavailableException', 'The service cannot complete the request.', 500);
    case 'monitoring':
      return new AwsServiceError('InternalServiceError', 'Internal service error.', 500);
    case 'sts':
      return new AwsServiceError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500);
    case 's3':
      return new AwsServiceError('InternalError', 'We encountered an internal error. Please try again.', 500);
    case 'lambda':
      return new AwsServiceError('ServiceException', 'The AWS Lambda service encountered an internal error.', 500);
  }
}

/** What AWS answers a request with no signature (`missing`) or an access key id it does not know (`unknown`). */
function authError(service: ServiceName, why: 'missing' | 'unknown'): AwsServiceError {
  if (service === 's3') {
    return why === 'missing'
      ? new AwsServiceError('AccessDenied', 'Access Denied', 403)
      : new AwsServiceError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 403);
  }
  if (service === 'sts' || service === 'monitoring') {
    return why === 'missing'
      ? new AwsServiceError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403)
      : new AwsServiceError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
  }
  const status = service === 'lambda' ? 403 : 400;
  return why === 'missing'
    ? new AwsServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token', status)
    : new AwsServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.', status);
}

/** Invoke's answer: the function's payload as the body, the rest in X-Amz-* headers. */
function lambdaSuccess(out: InvokeOutput): Reply {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (out.FunctionError) headers['x-amz-function-error'] = out.FunctionError;
  if (out.ExecutedVersion) headers['x-amz-executed-version'] = out.ExecutedVersion;
  if (out.LogResult) headers['x-amz-log-result'] = out.LogResult;
  return { status: out.StatusCode, headers, body: out.Payload };
}

function s3Operation(method: string, key: string): string {
  if (key === '') return method === 'PUT' ? 'CreateBucket' : method === 'HEAD' ? 'HeadBucket' : method === 'DELETE' ? 'DeleteBucket' : 'ListObjects';
  return method === 'PUT' ? 'PutObject' : method === 'HEAD' ? 'HeadObject' : method === 'DELETE' ? 'DeleteObject' : method === 'GET' ? 'GetObject' : `${method}Object`;
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function dropUndefined(input: Record<string, unknown>): Input {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts a stand-in on an ephemeral loopback port. */
export async function startAwsStandIn(options: AwsStandInOptions = {}): Promise<AwsStandIn> {
  const standIn = new AwsStandIn(options);
  await standIn.listen();
  return standIn;
}

/** An `http://127.0.0.1:1` URL where nothing listens (checked): connecting is refused (ECONNREFUSED). */
export async function refusedEndpoint(): Promise<string> {
  // Port 1 on loopback: below the ephemeral range (listen(0) never gets it) and privileged, so no stand-in of this
  // suite or of a parallel one can be listening there; a port freed by closing a server could be reused by one.
  const url = 'http://127.0.0.1:1';
  await new Promise<void>((resolve, reject) => {
    const probe = net.connect(1, '127.0.0.1');
    probe.once('connect', () => {
      probe.destroy();
      reject(new Error('something listens on 127.0.0.1:1; the refused-connection fault needs that port closed'));
    });
    probe.once('error', () => resolve());
  });
  return url;
}

