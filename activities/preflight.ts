/**
 * Preflight activities: each checks one dependency for real and returns a CheckResult rather
 * than throwing, so the workflow can report every failure at once.
 */
import { statfsSync } from 'node:fs';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Db } from 'mongodb';
import { PREFLIGHT_COLLECTION, PREFLIGHT_PROBES_COLLECTION } from '../src/clients/collections';
import { loadConfig, type LoadedConfig } from '../src/config/load';
import { timedCheck, type CheckResult } from '../src/domain/checks';
import { services, type ServiceName } from '../src/stack/services';
import { endpointText, serverEndpoints } from '../src/stack/endpoints';
import { SEARCH_ATTRIBUTES } from '../src/stack/search-attributes';
import type { PreflightReport } from '../contracts/preflight';

export interface PreflightDeps {
  config: LoadedConfig;
  db: Db;
  bus: NatsConnection;
  temporal: Client;
}


export function createPreflightActivities({ config, db, bus, temporal }: PreflightDeps) {
  return {
    /** Read-only: re-reads and validates the config file the worker was started with. */
    async checkConfig(): Promise<CheckResult> {
      return timedCheck('config', async () => {
        loadConfig(config.configFile);
        return `${config.configFile} is valid`;
      });
    },

    /** Read-only: the frontend answers, the namespace exists and our search attributes are registered. */
    async checkTemporal(): Promise<CheckResult> {
      return timedCheck('temporal', async () => {
        const info = await temporal.workflowService.getSystemInfo({});
        const { customAttributes } = await temporal.connection.operatorService.listSearchAttributes({
          namespace: config.temporal.namespace,
        });
        const missing = Object.keys(SEARCH_ATTRIBUTES).filter((k) => !(customAttributes && k in customAttributes));
        if (missing.length > 0) throw new Error(`search attributes not registered: ${missing.join(', ')}`);
        return `server ${info.serverVersion}, namespace ${config.temporal.namespace}, search attributes registered`;
      });
    },

    /** Writes a probe document and reads it back. */
    async checkStore(): Promise<CheckResult> {
      return timedCheck('store', async () => {
        const id = randomUUID();
        const coll = db.collection<{ _id: string; at: Date }>(PREFLIGHT_PROBES_COLLECTION);
        // Idempotent: a fresh probe id per attempt, removed once read back.
        await coll.insertOne({ _id: id, at: new Date() });
        const back = await coll.findOne({ _id: id });
        await coll.deleteOne({ _id: id });
        if (!back) throw new Error('wrote a probe document but could not read it back');
        return `wrote and read back a document in ${config.store.database}.${PREFLIGHT_PROBES_COLLECTION}`;
      });
    },

    /** Publishes on a fresh subject and consumes it on a subscription opened first. */
    async checkBus(): Promise<CheckResult> {
      return timedCheck('bus', async () => {
        const subject = `layer1.preflight.${randomUUID()}`;
        const sub = bus.subscribe(subject, { max: 1, timeout: 3_000 });
        const payload = randomUUID();
        bus.publish(subject, payload);
        for await (const msg of sub) {
          if (msg.string() !== payload) throw new Error('consumed a different payload than was published');
          return `published and consumed on ${subject}`;
        }
        throw new Error('no message consumed within 3 s');
      });
    },

    /** Read-only: free space in the state directory against preflight.minFreeDiskMb. */
    async checkDisk(): Promise<CheckResult> {
      return timedCheck('disk', async () => {
        const st = statfsSync(config.stateDir);
        const freeMb = Math.floor((st.bavail * st.bsize) / 1024 / 1024);
        if (freeMb < config.preflight.minFreeDiskMb) {
          throw new Error(`${freeMb} MiB free in ${config.stateDir}, below preflight.minFreeDiskMb ${config.preflight.minFreeDiskMb}`);
        }
        return `${freeMb} MiB free in ${config.stateDir} (threshold ${config.preflight.minFreeDiskMb})`;
      });
    },

    /**
     * Read-only: the named servers (all by default) accept TCP connections; a cluster (several
     * addresses: frontends, seeds, hosts) when one of its addresses does, the closed ones named.
     */
    async checkPorts(only?: ServiceName[]): Promise<CheckResult> {
      return timedCheck('ports', async () => {
        const wanted = services(config).filter((s) => !only || only.includes(s.name));
        const results = await Promise.all(
          wanted.map(async (s) => {
            const addresses = serverEndpoints(config, s.name).map(endpointText);
            const open = await Promise.all(addresses.map(tcpOpen));
            return { addresses, closed: addresses.filter((_, i) => !open[i]) };
          }),
        );
        const down = results.filter((r) => r.closed.length === r.addresses.length);
        if (down.length > 0) throw new Error(`not accepting connections: ${down.map((r) => r.addresses.join(',')).join(', ')}`);
        const partly = results.flatMap((r) => r.closed);
        return `listening: ${results.map((r) => r.addresses.join(',')).join(', ')}${partly.length > 0 ? ` (not answering: ${partly.join(', ')})` : ''}`;
      });
    },

    /** Stores the report. Idempotent: upsert keyed on the workflow id. */
    async recordPreflight(report: PreflightReport): Promise<void> {
      await db
        .collection<PreflightReport & { _id: string }>(PREFLIGHT_COLLECTION)
        .replaceOne({ _id: report.workflowId }, report, { upsert: true });
    },
  };
}

export type PreflightActivities = ReturnType<typeof createPreflightActivities>;

function tcpOpen(address: string): Promise<boolean> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)), timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
