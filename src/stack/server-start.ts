/**
 * Starting one embedded server (Temporal dev server, store, bus) again, with the same spec
 * `layer1 up` uses, by whoever notices it is gone: the server supervisor in the leading healing
 * replica (src/healing/server-supervisor.ts) or the `start_server` playbook action. Idempotent and
 * exclusive: a live server is left alone, and an exclusive claim file next to its pid file lets one
 * caller start it while another that comes at the same moment does nothing — two starts at once
 * would spawn two processes for one port, and the loser's pid file could win.
 */
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load';
import type { ProcessManager } from '../process/manager';
import { setTimeout as sleep } from 'node:timers/promises';
import { portInUse, services, type ServiceDef, type ServiceName } from './services';
import { toolPaths } from './tools';

/** A claim older than this was left by a caller that died while starting: it is taken over. */
const CLAIM_STALE_MS = 30_000;
/**
 * How long a start waits for the dead server's ports to be free. A process killed a moment ago may
 * still hold a listener while the kernel tears it down: a Temporal started 250 ms after a `kill -9`
 * once died of "bind: address already in use" on its Web UI port.
 */
const PORTS_FREE_WAIT_MS = 5_000;

/** Waits until none of the server's ports is bound, or `ms` passes (then the start goes ahead and says why it fails). */
async function portsFree(svc: ServiceDef, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const busy = await Promise.all(svc.ports.map((p) => portInUse(p.host, p.port)));
    if (!busy.includes(true)) return;
    await sleep(50);
  }
}

export type ServerStart =
  | { outcome: 'started'; pid: number; deadPid: number | null }
  | { outcome: 'already_running'; pid: number }
  | { outcome: 'claimed_elsewhere' }
  | { outcome: 'not_embedded' };

export function serviceDef(config: LoadedConfig, name: ServiceName): ServiceDef {
  const svc = services(config).find((s) => s.name === name);
  if (!svc) throw new Error(`no server named ${name}`);
  return svc;
}

function claimPath(config: LoadedConfig, name: ServiceName): string {
  return path.join(config.stateDir, 'run', `${name}.pid.start-claim`);
}

/**
 * Starts the embedded server `name` unless it is alive. Never downloads anything: the tools
 * `layer1 up` obtained are used (a missing one is an error).
 */
export async function startServerOnce(config: LoadedConfig, pm: ProcessManager, name: ServiceName): Promise<ServerStart> {
  const svc = serviceDef(config, name);
  if (!svc.embedded) return { outcome: 'not_embedded' };
  const live = pm.info(name);
  if (live.alive && live.pid !== null) return { outcome: 'already_running', pid: live.pid };
  const claim = claimPath(config, name);
  mkdirSync(path.dirname(claim), { recursive: true });
  let fd: number;
  try {
    fd = openSync(claim, 'wx');
  } catch {
    const age = Date.now() - (statSync(claim, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    if (age < CLAIM_STALE_MS) return { outcome: 'claimed_elsewhere' };
    rmSync(claim, { force: true });
    return startServerOnce(config, pm, name);
  }
  try {
    closeSync(fd);
    // Started by the claim's last holder between our check and our claim.
    const again = pm.info(name);
    if (again.alive && again.pid !== null) return { outcome: 'already_running', pid: again.pid };
    const tools = toolPaths();
    for (const [tool, file] of Object.entries(tools)) {
      if ((tool === 'temporal' || tool === 'ferretdb' || tool === 'natsServer') && !existsSync(file)) {
        throw new Error(`cannot start ${name}: ${file} is missing (run \`layer1 setup\`)`);
      }
    }
    await portsFree(svc, PORTS_FREE_WAIT_MS);
    const info = await pm.start(await svc.spec(tools));
    return { outcome: 'started', pid: info.pid as number, deadPid: again.recordedPid };
  } finally {
    rmSync(claim, { force: true });
  }
}
