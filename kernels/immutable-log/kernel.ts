/** The immutable log kernel's behaviour: our log server process, its /healthz, its self-test. */
import path from 'node:path';
import type { LoadedConfig } from '../../src/config/load';
import { errorText } from '../../src/domain/errors';
import { REPO_ROOT } from '../../src/stack/tools';
import type { KernelBehaviour } from '../kernel';
import { ImmutableLogClient } from './client';

/** A client of the log API at the configured loopback port. */
export function immutableLogClient(config: LoadedConfig, timeoutMs = 2_000): ImmutableLogClient {
  return new ImmutableLogClient({ baseUrl: `http://127.0.0.1:${config.kernels.immutable_log.port}`, timeoutMs });
}

export const immutableLogKernel: KernelBehaviour = {
  processes: () => ['immutable-log'],
  spec: async (config) => {
    const k = config.kernels.immutable_log;
    return {
      name: 'immutable-log',
      command: process.execPath,
      args: [
        path.join(REPO_ROOT, 'dist', 'kernels', 'immutable-log', 'main.js'),
        '--dir', path.join(config.stateDir, 'log'),
        '--port', String(k.port),
        '--host', '127.0.0.1',
        '--quota-mb', String(k.quotaMb),
        '--segment-kb', String(k.segmentKb),
        '--min-free-mb', String(k.minFreeDiskMb),
      ],
      cwd: REPO_ROOT,
    };
  },
  liveness: async ({ config }, _p, timeoutMs) => {
    try {
      const h = await immutableLogClient(config, timeoutMs).healthz();
      return { healthy: h.ok, detail: h.ok ? `pid ${h.pid} answers` : 'healthz not ok' };
    } catch (err) {
      return { healthy: false, detail: errorText(err) };
    }
  },
  readiness: async ({ config }) => {
    try {
      const report = await immutableLogClient(config, 5_000).ready(config.kernels.immutable_log.minFreeDiskMb);
      return report.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail, ms: c.ms }));
    } catch (err) {
      return [{ name: 'writable', ok: false, detail: `log API unreachable: ${errorText(err)}`, ms: 0 }];
    }
  },
};

