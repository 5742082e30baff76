/**
 * The periodic detectors of one trigger monitor: an instance of each definition (its section of
 * the config, its own state), each run on its own period, and the episodes of the conditions
 * they found. Two loops share nothing, so two monitors in one process do not either.
 */
import type { LoadedConfig } from '../../config/load';
import { makeEvidence, type Evidence } from '../evidence';
import type { AnyDetector, DetectorContext, Finding } from './types';

export interface DetectorLoopDeps {
  ctx: DetectorContext;
  detectors: readonly AnyDetector[];
  /** The observer named in the evidence (this replica's process name). */
  observer: string;
  /** Whether to run a round now (this replica leads and the first boot is done). */
  shouldRun: () => boolean;
  /** Hands evidence to the seam; resolves to false when it could not. */
  report: (e: Evidence) => Promise<boolean>;
}

interface Instance {
  detector: AnyDetector;
  settings: Record<string, unknown>;
  state: unknown;
  everyMs: number;
}

/** A detector's own section of `detectors:`, validated and with defaults, as the config holds it. */
export function settingsOf(config: LoadedConfig, d: AnyDetector): Record<string, unknown> {
  const settings = (config.detectors as unknown as Record<string, Record<string, unknown> | undefined>)[d.config.key];
  if (!settings) throw new Error(`detector ${d.name}: the config has no section detectors.${d.config.key} (is its config listed in src/healing/detectors/configs.ts?)`);
  return settings;
}

/** How often a detector runs: its own `everyMs`, else its section's. */
export function periodOf(d: AnyDetector, settings: Record<string, unknown>): number {
  const ms = d.everyMs ? d.everyMs(settings) : settings.everyMs;
  if (typeof ms !== 'number' || !(ms > 0)) throw new Error(`detector ${d.name} has no period: give detectors.${d.config.key} an everyMs key`);
  return ms;
}

export class DetectorLoop {
  private readonly instances: Instance[];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<string>();
  /** Conditions holding now, per detector finding key: when they started (their episode). */
  private readonly active = new Map<string, number>();

  constructor(private readonly deps: DetectorLoopDeps) {
    this.instances = deps.detectors.map((detector) => {
      const settings = settingsOf(deps.ctx.config, detector);
      return { detector, settings, state: detector.createState(), everyMs: periodOf(detector, settings) };
    });
  }

  /** Each detector's name and period, in registry order. */
  periods(): Array<{ name: string; everyMs: number }> {
    return this.instances.map((i) => ({ name: i.detector.name, everyMs: i.everyMs }));
  }

  start(): void {
    for (const i of this.instances) this.timers.push(setInterval(() => void this.round(i.detector.name), i.everyMs));
  }

  /** Stops the timers and releases what the detectors' states hold. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    for (const i of this.instances) {
      try {
        await i.detector.close?.(i.state);
      } catch (err) {
        this.deps.ctx.log.warn({ err, detector: i.detector.name }, 'detector did not close cleanly');
      }
    }
  }

  /** One round of the named detector (what its timer runs); a round still going is not doubled. */
  async round(name: string): Promise<void> {
    const i = this.instances.find((x) => x.detector.name === name);
    // Before the first boot has finished (its last phase starts the control plane), kernels are
    // still coming up: their streams, consumers and snapshots are not missing, only not yet there.
    if (!i || !this.deps.shouldRun() || this.running.has(name)) return;
    this.running.add(name);
    try {
      const findings = await i.detector.check(this.deps.ctx, i.settings, i.state);
      const now = Date.now();
      const holding = new Set<string>();
      for (const f of findings) {
        const cond = `${name}:${f.kind}:${f.key}`;
        if (f.event) {
          void this.deps.report(this.evidenceOf(f, f.key, now));
          continue;
        }
        holding.add(cond);
        if (this.active.has(cond)) continue; // still the same episode: reported when it began
        this.active.set(cond, now);
        // A condition not handed over is reported again on the detector's next round.
        void this.deps.report(this.evidenceOf(f, `${f.key}@${now}`, now)).then((ok) => {
          if (!ok) this.active.delete(cond);
        });
      }
      for (const cond of this.active.keys()) if (cond.startsWith(`${name}:`) && !holding.has(cond)) this.active.delete(cond);
    } catch (err) {
      this.deps.ctx.log.warn({ err, detector: name }, 'detector failed this round');
    } finally {
      this.running.delete(name);
    }
  }

  /** Evidence of a finding, keyed `key`, seen at `at` by this replica. */
  evidenceOf(f: Finding, key: string, at: number): Evidence {
    return makeEvidence({
      kind: f.kind,
      kernel: f.kernel,
      process: f.process ?? null,
      pid: f.pid ?? null,
      detail: f.detail,
      text: f.text ?? f.detail,
      data: f.data ?? {},
      at,
      observer: this.deps.observer,
      key,
    });
  }
}
