/**
 * The /metrics HTTP server: Prometheus text on GET /metrics, `ok` on GET /healthz, on the loopback
 * address and port of `metrics:` in the config. Run as the `metrics` process `layer1 up` starts
 * (src/metrics/main.ts); exported so a test can serve a registry of its own.
 */
import http from 'node:http';
import type { Layer1Metrics } from './registry';

/** The port is taken by another program: said as one line naming the config key. */
export class MetricsPortBusyError extends Error {
  override name = 'MetricsPortBusyError';
  constructor(
    readonly host: string,
    readonly port: number,
    options?: ErrorOptions,
  ) {
    super(`port ${port} on ${host} (metrics.port) is already in use by another program: choose another metrics.port`, options);
  }
}

export async function serveMetrics(metrics: Layer1Metrics, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (req.method === 'GET' && url.pathname === '/metrics') {
      metrics.scrape().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': metrics.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(`${(err as Error).message}\n`);
        },
      );
      return;
    }
    if (req.method === 'GET' && url.pathname === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found: try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new MetricsPortBusyError(host, port, { cause: err }) : err));
    server.listen({ host, port, exclusive: true }, resolve);
  });
  return server;
}
