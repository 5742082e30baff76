/**
 * The `metrics` process of the stack (src/metrics/main.ts): /metrics in the Prometheus text format
 * on the loopback port of `metrics:`. Started by `layer1 up` once the store answers (a no-op when it
 * runs), stopped by `layer1 down` with the workers; one process, so the port has one owner however
 * many healing replicas run.
 */
import path from 'node:path';
import type { LoadedConfig } from '../config/load';
import type { ProcessSpec } from '../process/manager';
import { REPO_ROOT } from './repo-root';

export const METRICS_PROCESS = 'metrics';

/** The full URL of /metrics, or null when `metrics.enabled` is false. */
export function metricsUrl(config: Pick<LoadedConfig, 'metrics'>): string | null {
  if (!config.metrics.enabled) return null;
  const host = config.metrics.host.includes(':') ? `[${config.metrics.host}]` : config.metrics.host;
  return `http://${host}:${config.metrics.port}/metrics`;
}

export function metricsSpec(config: LoadedConfig): ProcessSpec {
  return {
    name: METRICS_PROCESS,
    command: process.execPath,
    args: [path.join(REPO_ROOT, 'dist', 'src', 'metrics', 'main.js'), '--config', config.configFile],
    cwd: REPO_ROOT,
  };
}

/** Whether /metrics answers now (its /healthz, cheap: no store read). */
export async function metricsAnswers(config: Pick<LoadedConfig, 'metrics'>, timeoutMs = 1_000): Promise<boolean> {
  const url = metricsUrl(config);
  if (!url) return false;
  try {
    const res = await fetch(url.replace(/\/metrics$/, '/healthz'), { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}
