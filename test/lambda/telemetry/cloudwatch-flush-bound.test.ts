/**
 * The flush bound against a real socket (no SDK mock): an endpoint that accepts the connection and never
 * answers is cut off at the bound, and the aborted request leaves no socket open.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudWatchMetricsSink, type MetricsPublishError } from '../../../lambda/telemetry/cloudwatch-metrics';

let server: http.Server;
let endpoint: string;
const open = new Set<import('node:net').Socket>();

beforeAll(async () => {
  // Reads the request, never answers.
  server = http.createServer(() => undefined);
  server.on('connection', (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const socket of open) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('CloudWatchMetricsSink against a CloudWatch that never answers', () => {
  it('finishes the flush within its bound and closes the request', async () => {
    const errors: MetricsPublishError[] = [];
    const sink = new CloudWatchMetricsSink({
      client: new CloudWatchClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' }, maxAttempts: 1 }),
      flushIntervalMs: 0,
      onError: (e) => errors.push(e),
    });
    sink.count('KeyRetrievalFailures');
    const started = Date.now();
    await sink.flush({ timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(errors).toEqual([expect.objectContaining({ errorName: 'TimeoutError', droppedDatums: 1 })]);
    // The aborted request's socket is closed, so it cannot keep a CLI process alive after the flush.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(open.size).toBe(0);
  });
});
