/**
 * A drill's rollback: the injector's journal (src/chaos/faults/types.ts `Undo`), written to the
 * store before each act, applied in reverse. Any process can run it, so a drill whose worker was
 * killed mid-injection is rolled back by the next one. Each undo acts only while the fault's effect
 * is still there, so a rollback after the system healed itself (the usual case) changes nothing,
 * and running it twice is harmless.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { reloadBus } from '../../../kernels/message-bus/readiness';
import { renderBus } from '../../../kernels/message-bus/render';
import { procStartTicks } from '../../process/manager';
import { readByte, writeByte } from '../faults/bytes';
import type { FaultContext, Undo } from '../faults/types';

export interface RollbackStep {
  undo: Undo['kind'];
  /** What it found and did, in a few words. */
  detail: string;
  ok: boolean;
}

async function applyOne(ctx: FaultContext, u: Undo): Promise<string> {
  switch (u.kind) {
    case 'unflip': {
      const now = await readByte(u.file, u.offset);
      if (now !== u.flipped) return `${u.file}@${u.offset}: not flipped (0x${now?.toString(16) ?? 'none'}), left as it is`;
      await writeByte(u.file, u.offset, u.original);
      return `${u.file}@${u.offset}: flipped byte put back`;
    }
    case 'write_back': {
      if (!existsSync(u.file)) return `${u.file}: gone, left alone`;
      const sha = createHash('sha256').update(readFileSync(u.file)).digest('hex');
      if (sha !== u.brokenSha256) return `${u.file}: no longer the injected bytes, left as it is`;
      writeFileSync(u.file, Buffer.from(u.original, 'base64'));
      return `${u.file}: original bytes written back`;
    }
    case 'move_back': {
      const present = existsSync(u.dir);
      if (!present && existsSync(u.moved)) renameSync(u.moved, u.dir);
      else rmSync(u.moved, { recursive: true, force: true });
      return present ? `${u.dir} present; the moved copy removed` : `${u.dir} moved back`;
    }
    case 'resume': {
      if (u.ticks !== null && procStartTicks(u.pid) !== u.ticks) return `${u.process} pid ${u.pid} no longer runs`;
      try {
        process.kill(u.pid, 'SIGCONT');
        return `${u.process} pid ${u.pid} continued (SIGCONT)`;
      } catch {
        return `${u.process} pid ${u.pid} no longer runs`;
      }
    }
    case 'stop_process': {
      if (!ctx.pm.isAlive(u.name)) return `${u.name} not running`;
      await ctx.pm.stop(u.name);
      return `${u.name} stopped`;
    }
    case 'rerender_bus': {
      if (!renderBus(ctx.config).changed) return 'nats.conf matches the policy';
      await reloadBus(ctx.config, { render: false, pm: ctx.pm });
      return 'nats.conf rendered from the policy and reloaded';
    }
    case 'reload_bus':
      await reloadBus(ctx.config, { render: false, pm: ctx.pm });
      return 'the bus reloaded nats.conf';
  }
}

/** Applies the journal in reverse order; every step is tried, whatever the others did. */
export async function rollback(ctx: FaultContext, journal: readonly Undo[]): Promise<RollbackStep[]> {
  const steps: RollbackStep[] = [];
  for (const u of [...journal].reverse()) {
    try {
      steps.push({ undo: u.kind, detail: await applyOne(ctx, u), ok: true });
    } catch (err) {
      steps.push({ undo: u.kind, detail: (err as Error).message, ok: false });
    }
  }
  return steps;
}
