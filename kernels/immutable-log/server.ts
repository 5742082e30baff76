/**
 * The loopback HTTP JSON API in front of one {@link ImmutableLog}. Kept apart from `main.ts` so a
 * test or another process can serve a log it opened itself.
 */
import * as http from 'node:http';
import {
  ImmutableLogError,
  LogClosedError,
  LogCorruptionError,
  LogEntryTooLargeError,
  LogInvalidArgumentError,
  LogInvalidEntryError,
  LogLockedError,
  LogQuotaExceededError,
  LogWriteFailedError,
} from './errors';
import type { ImmutableLog } from './log';
import { checkReadiness } from './readiness';

/** Largest request body accepted; an entry beyond it is refused before it is parsed. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_ENTRIES_PER_READ = 1000;

export interface LogServerOptions {
  /** Default free-space threshold of `GET /ready` when the query gives none. @default 64 */
  minFreeMb?: number;
}

/** A request the API refuses; becomes a 4xx with `{ error: { name: 'BadRequest', message } }`. */
class BadRequest extends Error {
  override name = 'BadRequest';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function statusOf(err: unknown): number {
  if (err instanceof BadRequest) return err.status;
  if (err instanceof LogQuotaExceededError) return 507;
  if (err instanceof LogEntryTooLargeError) return 413;
  if (err instanceof LogInvalidEntryError || err instanceof LogInvalidArgumentError) return 400;
  if (err instanceof LogClosedError || err instanceof LogWriteFailedError || err instanceof LogLockedError) return 503;
  if (err instanceof LogCorruptionError) return 409;
  return 500;
}

function errorBody(err: unknown): { error: Record<string, unknown> } {
  if (err instanceof ImmutableLogError) return { error: err.toJSON() };
  const e = err as Error;
  return { error: { name: e?.name ?? 'Error', message: e?.message ?? String(err) } };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest(`body exceeds ${MAX_BODY_BYTES} bytes`, 413);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('body is not JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest('body must be a JSON object');
  return v as Record<string, unknown>;
}

function intParam(url: URL, name: string, fallback: number, min: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new BadRequest(`${name} must be an integer ≥ ${min}`);
  return n;
}

function optionalNumber(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadRequest(`${name} must be a number`);
  return v;
}

/**
 * Builds (does not start) the HTTP server. Routes:
 * `POST /append`, `POST /append-batch`, `GET /entries`, `GET /tail`, `GET /head`, `POST /verify`, `GET /ready`,
 * `GET /healthz`, `GET /usage`, `POST /rebuild-index`, `POST /archive`, `POST /cleanup`.
 * Errors answer `{ error: { name, message, ...typed fields } }` with a status that fits the error.
 */
export function createLogServer(log: ImmutableLog, options: LogServerOptions = {}): http.Server {
  const startedAt = Date.now();
  const defaultMinFreeMb = options.minFreeMb ?? 64;

  const route = async (req: http.IncomingMessage, url: URL): Promise<[number, unknown]> => {
    const key = `${req.method} ${url.pathname}`;
    switch (key) {
      case 'GET /healthz':
        // Liveness only: no disk I/O, so a slow disk does not get a healthy process killed.
        return [200, { ok: true, pid: process.pid, uptimeMs: Date.now() - startedAt, writable: log.writable().ok }];
      case 'GET /head':
        return [200, log.head()];
      case 'POST /append': {
        const body = await readJson(req);
        if (typeof body.kind !== 'string') throw new BadRequest('kind must be a string');
        return [200, await log.append(body.kind, body.data ?? null)];
      }
      case 'POST /append-batch': {
        const body = await readJson(req);
        if (!Array.isArray(body.entries)) throw new BadRequest('entries must be an array');
        const entries = (body.entries as unknown[]).map((e, i) => {
          if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new BadRequest(`entries[${i}] must be an object`);
          const { kind, data } = e as Record<string, unknown>;
          if (typeof kind !== 'string') throw new BadRequest(`entries[${i}].kind must be a string`);
          return { kind, data: data ?? null };
        });
        return [200, { entries: await log.appendBatch(entries) }];
      }
      case 'GET /entries': {
        const from = intParam(url, 'from', 1, 1);
        const limit = Math.min(intParam(url, 'limit', 100, 0), MAX_ENTRIES_PER_READ);
        return [200, { entries: await log.read(from, limit), head: log.head() }];
      }
      case 'GET /tail': {
        const n = Math.min(intParam(url, 'n', 10, 0), MAX_ENTRIES_PER_READ);
        return [200, { entries: await log.tail(n), head: log.head() }];
      }
      case 'POST /verify': {
        const body = await readJson(req);
        const from = optionalNumber(body, 'from');
        const sweepSegments = optionalNumber(body, 'sweepSegments');
        return [
          200,
          await log.verify({ full: body.full === true, ...(from !== undefined ? { from } : {}), ...(sweepSegments !== undefined ? { sweepSegments } : {}) }),
        ];
      }
      case 'GET /ready': {
        const minFreeMb = intParam(url, 'minFreeMb', defaultMinFreeMb, 0);
        const report = await checkReadiness(log, { minFreeBytes: minFreeMb * 1024 * 1024 });
        return [report.ready ? 200 : 503, report];
      }
      case 'GET /usage':
        return [200, { usage: await log.usage(), disk: await log.diskFree() }];
      case 'POST /rebuild-index':
        return [200, await log.rebuildIndex()];
      case 'POST /archive': {
        const body = await readJson(req);
        const keep = optionalNumber(body, 'keep');
        return [200, await log.archiveSealed(keep !== undefined ? { keep } : {})];
      }
      case 'POST /cleanup': {
        const body = await readJson(req);
        const maxArchives = optionalNumber(body, 'maxArchives');
        const maxAgeMs = optionalNumber(body, 'maxAgeMs');
        return [
          200,
          await log.cleanupArchives({
            ...(maxArchives !== undefined ? { maxArchives } : {}),
            ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
          }),
        ];
      }
      default:
        throw new BadRequest(`no route ${key}`, 404);
    }
  };

  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    route(req, url).then(
      ([status, body]) => send(res, status, body),
      (err: unknown) => send(res, statusOf(err), errorBody(err)),
    );
  });
}
