/**
 * The `dashboard` process (`node dist/src/dashboard/main.js --config FILE`), started by `layer1 up`
 * beside the metrics process: the read-only page on the loopback port of `dashboard:`, its state
 * read from the store at each request of /api/state. The kernels come from the status snapshot the
 * leading trigger monitor writes every second (what `layer1 status` reads), so a page left open
 * never queries the control plane workflow.
 */
import { connectStore } from '../clients/store';
import { loadConfig } from '../config/load';
import { quickKernelStatuses, withMonitors } from '../stack/kernel-status';
import { webUiUrl } from '../stack/services';
import { freshSnapshot } from '../stack/status-snapshot';
import { DashboardPortBusyError, serveDashboard } from './server';
import { dashboardState, readDashboardInputs } from './state';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--config');
  const config = loadConfig(i > 0 ? process.argv[i + 1] : undefined);
  const store = await connectStore(config);
  // The embedded dev server's Web UI, or a cluster's `temporal.webUiUrl`; with neither, nothing links there.
  const webUi = webUiUrl(config);
  const kernels = () => {
    const snap = freshSnapshot(config);
    if (!snap) {
      const why = 'no fresh status snapshot (the leading trigger monitor writes one every second while the healing workers run)';
      return { kernels: quickKernelStatuses(config, null, why), why, events: [] };
    }
    return {
      kernels: withMonitors(quickKernelStatuses(config, snap.controlPlane, snap.controlPlaneWhy), snap.monitors),
      why: snap.controlPlaneWhy,
      events: snap.controlPlane?.events ?? [],
    };
  };
  const state = async () => dashboardState(await readDashboardInputs({ db: store.db, config, webUi, kernels }));
  const server = await serveDashboard(state, config.dashboard.host, config.dashboard.port);
  console.log(`dashboard: serving http://${config.dashboard.host}:${config.dashboard.port}/ (pid ${process.pid})`);
  const stop = (): void => {
    server.close();
    void store.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof DashboardPortBusyError ? `layer1 dashboard: ${err.message}` : err);
  process.exit(1);
});
