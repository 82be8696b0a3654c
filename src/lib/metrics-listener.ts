import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

/**
 * GET /metrics on a listener of its own (EDGECERT_METRICS_LISTEN): for edge-only nodes, which
 * have no API listener, or to scrape apart from the API. Same text as the API's /metrics (with
 * the edge workers' metrics merged in); nothing else is served.
 */
export async function startMetricsListener(metrics: Metrics, listen: { host: string; port: number }, timeoutMs: number): Promise<{ address: string; close(): Promise<void> }> {
  const server: Server = createServer({ headersTimeout: timeoutMs, requestTimeout: timeoutMs, keepAliveTimeout: 5000 }, (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, text }) => res.writeHead(200, { 'content-type': contentType }).end(text),
      () => res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
