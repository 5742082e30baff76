/**
 * The immutable-log kernel process:
 *
 *     node dist/kernels/immutable-log/main.js --dir DIR --port PORT [--host 127.0.0.1]
 *       [--quota-mb N] [--segment-kb N] [--min-free-mb N]
 *
 * Opens the log (cutting a torn tail), serves the loopback API, prints one JSON line when it
 * listens (with the real port, so `--port 0` works), and on SIGTERM/SIGINT stops taking requests,
 * lets queued appends reach the disk, and exits 0.
 */
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { ImmutableLog } from './log';
import { createLogServer } from './server';

function positive(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'quota-mb': { type: 'string' },
      'segment-kb': { type: 'string' },
      'min-free-mb': { type: 'string' },
    },
    strict: true,
  });
  if (!values.dir || values.port === undefined) throw new Error('usage: main.js --dir DIR --port PORT [--host H] [--quota-mb N] [--segment-kb N] [--min-free-mb N]');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);
  const quotaMb = positive('quota-mb', values['quota-mb']);
  const segmentKb = positive('segment-kb', values['segment-kb']);
  const minFreeMb = positive('min-free-mb', values['min-free-mb']);

  const log = await ImmutableLog.open({
    dir: values.dir,
    ...(quotaMb !== undefined ? { quotaBytes: Math.floor(quotaMb * 1024 * 1024) } : {}),
    ...(segmentKb !== undefined ? { segmentBytes: Math.floor(segmentKb * 1024) } : {}),
  });
  const server = createLogServer(log, minFreeMb !== undefined ? { minFreeMb } : {});
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, values.host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const r = log.openReport;
  console.log(
    JSON.stringify({
      msg: 'immutable-log listening',
      host: addr.address,
      port: addr.port,
      pid: process.pid,
      dir: log.dir,
      head: r.head,
      truncatedBytes: r.truncatedBytes,
      indexRebuilt: r.indexRebuilt.length,
      sealedOnOpen: r.sealedOnOpen.length,
      tailCorruption: r.tailCorruption?.message ?? null,
      openMs: r.ms,
    }),
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    // Stop accepting first; then log.close() waits for every queued append to be fsynced, so each
    // request already in flight gets its answer before the connections are dropped.
    server.close();
    server.closeIdleConnections();
    log
      .close()
      .then(() => new Promise((r) => setImmediate(r)))
      .then(() => {
        server.closeAllConnections();
        console.log(JSON.stringify({ msg: 'immutable-log stopped', signal, head: log.head() }));
        process.exit(0);
      })
      .catch((err: unknown) => {
        console.error(err);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
