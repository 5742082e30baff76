/**
 * What the deployment recipe asks a Temporal frontend, over the project's own SDK (no Temporal CLI
 * needed): `health ADDRESS [SECONDS]` waits until the frontend answers GetSystemInfo;
 * `namespace ADDRESS NAME` registers NAME (72 h retention) unless it exists and waits until it
 * can be used. Run as `node dist/deploy/dist/temporal-admin.js …` by deploy/dist/temporal.sh.
 * TLS when TEMPORAL_TLS_CA names the CA's PEM file (TEMPORAL_TLS_SERVER_NAME: the name to verify).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';

const ca = process.env.TEMPORAL_TLS_CA;
const tls = ca ? { serverRootCACertificate: readFileSync(ca), serverNameOverride: process.env.TEMPORAL_TLS_SERVER_NAME } : undefined;

async function connectWithin(address: string, seconds: number): Promise<Connection> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await Connection.connect({ address, tls, connectTimeout: 2_000 });
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the frontend at ${address} does not answer after ${seconds} s: ${(err as Error).message}`);
      await sleep(500);
    }
  }
}

async function namespace(connection: Connection, name: string): Promise<void> {
  const svc = connection.workflowService;
  try {
    await svc.describeNamespace({ namespace: name });
  } catch {
    await svc.registerNamespace({ namespace: name, workflowExecutionRetentionPeriod: msToTs('72 hours') }).catch((err: Error) => {
      if (!/already exists/i.test(err.message)) throw err;
    });
  }
  // A namespace just registered is known to the frontend after its cache refreshes.
  for (let i = 0; i < 120; i++) {
    try {
      await svc.listWorkflowExecutions({ namespace: name, pageSize: 1 });
      return;
    } catch {
      await sleep(500);
    }
  }
  throw new Error(`namespace ${name} is not usable after 60 s`);
}

async function main(): Promise<void> {
  const [verb, address, arg] = process.argv.slice(2);
  if (!address || (verb !== 'health' && verb !== 'namespace')) throw new Error('usage: temporal-admin health ADDRESS [SECONDS] | namespace ADDRESS NAME');
  const connection = await connectWithin(address, verb === 'health' ? Number(arg ?? 60) : 60);
  try {
    if (verb === 'health') {
      const info = await connection.workflowService.getSystemInfo({});
      console.log(`frontend ${address} serving (server ${info.serverVersion})`);
    } else {
      await namespace(connection, arg ?? 'default');
      console.log(`namespace ${arg ?? 'default'} ready`);
    }
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
