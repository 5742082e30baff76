/**
 * The `metrics` process (`node dist/src/metrics/main.js --config FILE`), started by `layer1 up`
 * beside the servers: /metrics for Prometheus, read from the store at each scrape, with this
 * process's own default metrics. The control plane's figures come from the status snapshot the
 * leading trigger monitor writes every second, so a scrape never queries the control plane workflow.
 */
import { loadConfig } from '../config/load';
import { connectStore } from '../clients/store';
import { freshSnapshot } from '../stack/status-snapshot';
import { collectTelemetry } from '../telemetry/collect';
import { Layer1Metrics } from './registry';
import { MetricsPortBusyError, serveMetrics } from './server';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--config');
  const config = loadConfig(i > 0 ? process.argv[i + 1] : undefined);
  const store = await connectStore(config);
  const metrics = new Layer1Metrics(async () =>
    collectTelemetry(
      {
        db: store.db,
        config,
        controlPlane: async () => {
          const snap = freshSnapshot(config);
          return snap
            ? { status: snap.controlPlane, why: snap.controlPlaneWhy }
            : { status: null, why: 'no fresh status snapshot (the leading trigger monitor writes one every second while the healing workers run)' };
        },
      },
      `scrape-${Date.now()}`,
    ),
  );
  const server = await serveMetrics(metrics, config.metrics.host, config.metrics.port);
  console.log(`metrics: serving http://${config.metrics.host}:${config.metrics.port}/metrics (pid ${process.pid})`);
  const stop = (): void => {
    server.close();
    void store.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof MetricsPortBusyError ? `layer1 metrics: ${err.message}` : err);
  process.exit(1);
});
