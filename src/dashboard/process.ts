/**
 * The `dashboard` process of the stack (src/dashboard/main.ts): the read-only page and its JSON
 * endpoint on the loopback port of `dashboard:`. Started by `layer1 up` beside the metrics process
 * once the store answers (a no-op when it runs), stopped by `layer1 down` with the workers. A
 * process of its own rather than a second port of the metrics process: either can be turned off,
 * and a page being read never slows a Prometheus scrape.
 */
import path from 'node:path';
import type { LoadedConfig } from '../config/load';
import type { ProcessSpec } from '../process/manager';
import { REPO_ROOT } from '../stack/repo-root';

export const DASHBOARD_PROCESS = 'dashboard';

/** The page's URL, or null when `dashboard.enabled` is false. */
export function dashboardUrl(config: Pick<LoadedConfig, 'dashboard'>): string | null {
  if (!config.dashboard.enabled) return null;
  const host = config.dashboard.host.includes(':') ? `[${config.dashboard.host}]` : config.dashboard.host;
  return `http://${host}:${config.dashboard.port}/`;
}

export function dashboardSpec(config: LoadedConfig): ProcessSpec {
  return {
    name: DASHBOARD_PROCESS,
    command: process.execPath,
    args: [path.join(REPO_ROOT, 'dist', 'src', 'dashboard', 'main.js'), '--config', config.configFile],
    cwd: REPO_ROOT,
  };
}

/** Whether the dashboard answers now (its /healthz, cheap: no store read). */
export async function dashboardAnswers(config: Pick<LoadedConfig, 'dashboard'>, timeoutMs = 1_000): Promise<boolean> {
  const url = dashboardUrl(config);
  if (!url) return false;
  try {
    const res = await fetch(`${url}healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}
