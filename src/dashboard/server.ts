/**
 * The dashboard's HTTP server, on the loopback address and port of `dashboard:`. Read-only: GET (and
 * HEAD) only, anything else is refused with 405, so whatever changes state stays in the CLI and the
 * Web UI. Serves the page and its script and style from src/dashboard/page/ (no CDN: the page works
 * offline), the state as JSON on /api/state, and `ok` on /healthz without reading the store.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { REPO_ROOT } from '../stack/repo-root';

export const PAGE_DIR = path.join(REPO_ROOT, 'src', 'dashboard', 'page');

/** The port is taken by another program: said as one line naming the config key. */
export class DashboardPortBusyError extends Error {
  override name = 'DashboardPortBusyError';
  constructor(
    readonly host: string,
    readonly port: number,
    options?: ErrorOptions,
  ) {
    super(`port ${port} on ${host} (dashboard.port) is already in use by another program: choose another dashboard.port`, options);
  }
}

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** Headers every answer carries: nothing is loaded from elsewhere, nothing is cached stale. */
const HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

/** @param state the state as JSON, read now */
export async function serveDashboard(state: () => Promise<unknown>, host: string, port: number, pageDir = PAGE_DIR): Promise<http.Server> {
  // Read once: the page is part of the build, not something edited while the process runs.
  const assets = Object.fromEntries(Object.entries(ASSETS).map(([p, a]) => [p, { body: readFileSync(path.join(pageDir, a.file)), type: a.type }]));
  const server = http.createServer((req, res) => {
    const send = (code: number, type: string, body: string | Buffer): void => {
      res.writeHead(code, { ...HEADERS, 'Content-Type': type });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(405, 'text/plain', 'read-only: GET only (change state with the layer1 CLI or the Temporal Web UI)\n');
      return;
    }
    const url = new URL(req.url ?? '/', `http://${host}`);
    const asset = assets[url.pathname === '/index.html' ? '/' : url.pathname];
    if (asset) return send(200, asset.type, asset.body);
    if (url.pathname === '/healthz') return send(200, 'text/plain', 'ok\n');
    // Browsers ask for it unbidden: no icon, and no 404 in the console.
    if (url.pathname === '/favicon.ico') return send(204, 'image/x-icon', '');
    if (url.pathname === '/api/state') {
      state().then(
        (s) => send(200, 'application/json', JSON.stringify(s)),
        (err: unknown) => send(503, 'application/json', JSON.stringify({ error: (err as Error).message })),
      );
      return;
    }
    send(404, 'text/plain', 'not found: try / or /api/state\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new DashboardPortBusyError(host, port, { cause: err }) : err));
    server.listen({ host, port, exclusive: true }, resolve);
  });
  return server;
}
