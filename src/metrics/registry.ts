/**
 * The Prometheus metrics of /metrics (prom-client), each defined once here with its labels; the
 * names and labels are documented in docs/metrics.md (a unit test checks the two agree).
 *
 * Every figure comes from the same computation as the telemetry document (src/telemetry/collect.ts),
 * run at each scrape: the store is the record, so a counter here is the count of records (boot
 * reports, playbook runs) and a histogram is rebuilt from the stored durations. Counters therefore
 * only fall when the records they count are removed, which Prometheus reads as a counter reset.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TelemetryDocument, TelemetrySamples } from '../telemetry/collect';

/** Seconds: from a self-test passing in 50 ms to a heal or a playbook of minutes. */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** Every metric of ours: its name, type, labels and help — the one list docs/metrics.md is checked against. */
export const METRIC_DEFS = {
  bootsTotal: { name: 'layer1_kernel_boots_total', type: 'counter', labels: ['kernel'], help: 'Boot reports in the store that name the kernel' },
  bootsReady: { name: 'layer1_kernel_boots_ready_total', type: 'counter', labels: ['kernel'], help: 'Of those, the boots in which the kernel became ready' },
  bootRetries: { name: 'layer1_kernel_boot_retries_total', type: 'counter', labels: ['kernel'], help: 'Self-test attempts beyond the first, over every stored boot' },
  timeToReady: { name: 'layer1_kernel_time_to_ready_seconds', type: 'histogram', labels: ['kernel'], help: 'Time from the start of its boot phase to its self-test passing, per stored boot' },
  kernelUp: { name: 'layer1_kernel_up', type: 'gauge', labels: ['kernel'], help: 'The control plane holds the kernel READY (1) or not (0)' },
  kernelRestarts: { name: 'layer1_kernel_restarts_total', type: 'counter', labels: ['kernel'], help: 'Restarts by the control plane since it started' },
  controlPlaneKernels: { name: 'layer1_control_plane_kernels', type: 'gauge', labels: ['status'], help: 'Kernels the control plane supervises: status total, running (READY) or failed (FAILED, CRASH_LOOP)' },
  playbookRuns: { name: 'layer1_playbook_runs_total', type: 'counter', labels: ['playbook', 'outcome'], help: 'Finished playbook runs (not dry runs), outcome success or failure' },
  playbookDuration: { name: 'layer1_playbook_duration_seconds', type: 'histogram', labels: ['playbook'], help: 'Duration of finished playbook runs' },
  incidents: { name: 'layer1_incidents', type: 'gauge', labels: ['state'], help: 'Incidents in the store by state (open, closed, reopened)' },
  timeToHeal: { name: 'layer1_incident_time_to_heal_seconds', type: 'histogram', labels: ['known'], help: "Time to heal of closed incidents; known=true when the knowledge base's remedy was applied" },
  signatures: { name: 'layer1_knowledge_signatures', type: 'gauge', labels: [], help: 'Error signatures in the knowledge base' },
  signaturesWithRemedy: { name: 'layer1_knowledge_signatures_with_remedy', type: 'gauge', labels: [], help: 'Signatures with a verified remedy' },
  autoApply: { name: 'layer1_knowledge_auto_apply_signatures', type: 'gauge', labels: [], help: 'Signatures whose remedy is applied without the coding agent' },
  confidence: { name: 'layer1_knowledge_confidence', type: 'gauge', labels: ['signature'], help: 'Wilson lower bound of the verified success rate of the signature\'s remedy' },
  chaosCoverage: { name: 'layer1_chaos_coverage_ratio', type: 'gauge', labels: [], help: 'Failure cards with a passing drill within 7 days, over all cards (chaos coverage)' },
  chaosSuccess: { name: 'layer1_chaos_success_ratio', type: 'gauge', labels: [], help: 'Drills that passed all four gates, over all drills in the ledger' },
  chaosHighRiskPending: { name: 'layer1_chaos_high_risk_pending', type: 'gauge', labels: [], help: 'High-risk failure cards without a passing drill within 7 days' },
  sectionAvailable: { name: 'layer1_telemetry_section_available', type: 'gauge', labels: ['section'], help: 'Whether the source of a telemetry section exists (control_plane, self_learning, chaos)' },
  collectOk: { name: 'layer1_telemetry_collect_success', type: 'gauge', labels: [], help: 'Whether this scrape could read the figures (1) or the store did not answer (0: the others are from the last scrape that could)' },
} as const;

export type MetricKey = keyof typeof METRIC_DEFS;

/** What a scrape reads the figures from. */
export type FigureSource = () => Promise<{ document: TelemetryDocument; samples: TelemetrySamples }>;

export class Layer1Metrics {
  readonly registry = new Registry();
  private readonly c: Record<'bootsTotal' | 'bootsReady' | 'bootRetries' | 'kernelRestarts' | 'playbookRuns', Counter<string>>;
  private readonly g: Record<'kernelUp' | 'controlPlaneKernels' | 'incidents' | 'signatures' | 'signaturesWithRemedy' | 'autoApply' | 'confidence' | 'sectionAvailable' | 'collectOk' | 'chaosCoverage' | 'chaosSuccess' | 'chaosHighRiskPending', Gauge<string>>;
  private readonly h: Record<'timeToReady' | 'playbookDuration' | 'timeToHeal', Histogram<string>>;

  constructor(private readonly source: FigureSource) {
    collectDefaultMetrics({ register: this.registry });
    const opts = (k: MetricKey) => ({ name: METRIC_DEFS[k].name, help: METRIC_DEFS[k].help, labelNames: [...METRIC_DEFS[k].labels], registers: [this.registry] });
    this.c = {
      bootsTotal: new Counter(opts('bootsTotal')),
      bootsReady: new Counter(opts('bootsReady')),
      bootRetries: new Counter(opts('bootRetries')),
      kernelRestarts: new Counter(opts('kernelRestarts')),
      playbookRuns: new Counter(opts('playbookRuns')),
    };
    this.g = {
      kernelUp: new Gauge(opts('kernelUp')),
      controlPlaneKernels: new Gauge(opts('controlPlaneKernels')),
      incidents: new Gauge(opts('incidents')),
      signatures: new Gauge(opts('signatures')),
      signaturesWithRemedy: new Gauge(opts('signaturesWithRemedy')),
      autoApply: new Gauge(opts('autoApply')),
      confidence: new Gauge(opts('confidence')),
      sectionAvailable: new Gauge(opts('sectionAvailable')),
      collectOk: new Gauge(opts('collectOk')),
      chaosCoverage: new Gauge(opts('chaosCoverage')),
      chaosSuccess: new Gauge(opts('chaosSuccess')),
      chaosHighRiskPending: new Gauge(opts('chaosHighRiskPending')),
    };
    const hist = (k: MetricKey) => new Histogram({ ...opts(k), buckets: DURATION_BUCKETS });
    this.h = { timeToReady: hist('timeToReady'), playbookDuration: hist('playbookDuration'), timeToHeal: hist('timeToHeal') };
  }

  /** The figures read now, in the Prometheus text format. */
  async scrape(): Promise<string> {
    try {
      const { document, samples } = await this.source();
      this.set(document, samples);
      this.g.collectOk.set(1);
    } catch {
      // The store is down: what the last scrape read stays, and says it is stale.
      this.g.collectOk.set(0);
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private set(doc: TelemetryDocument, samples: TelemetrySamples): void {
    for (const m of [...Object.values(this.c), ...Object.values(this.g), ...Object.values(this.h)]) m.reset();
    for (const [kernel, r] of Object.entries(doc.readiness)) {
      this.c.bootsTotal.inc({ kernel }, r.count);
      this.c.bootsReady.inc({ kernel }, r.ready);
      this.c.bootRetries.inc({ kernel }, r.retries);
    }
    for (const s of samples.timeToReadyMs) this.h.timeToReady.observe({ kernel: s.kernel }, s.ms / 1000);
    for (const [playbook, p] of Object.entries(doc.playbooks)) {
      this.c.playbookRuns.inc({ playbook, outcome: 'success' }, p.success);
      this.c.playbookRuns.inc({ playbook, outcome: 'failure' }, p.failure);
    }
    for (const s of samples.playbookMs) this.h.playbookDuration.observe({ playbook: s.playbook }, s.ms / 1000);
    const cp = doc.control_plane;
    this.g.sectionAvailable.set({ section: 'control_plane' }, cp.available ? 1 : 0);
    if (cp.available) {
      for (const [status, n] of Object.entries(cp.kernels)) this.g.controlPlaneKernels.set({ status }, n);
      for (const [kernel, n] of Object.entries(cp.restarts)) this.c.kernelRestarts.inc({ kernel }, n);
      for (const [kernel, state] of Object.entries(cp.states)) this.g.kernelUp.set({ kernel }, state === 'READY' ? 1 : 0);
    }
    const sl = doc.self_learning;
    this.g.sectionAvailable.set({ section: 'self_learning' }, sl.available ? 1 : 0);
    if (sl.available) {
      this.g.signatures.set(sl.knownSignatures);
      this.g.signaturesWithRemedy.set(sl.withRemedy);
      this.g.autoApply.set(sl.autoApplyEnabled);
      for (const [signature, c] of Object.entries(sl.confidence)) this.g.confidence.set({ signature }, c);
      for (const [state, n] of Object.entries(sl.incidents)) if (state !== 'total') this.g.incidents.set({ state }, n);
    }
    for (const s of samples.timeToHealMs) this.h.timeToHeal.observe({ known: String(s.known) }, s.ms / 1000);
    this.g.sectionAvailable.set({ section: 'chaos' }, doc.chaos.available ? 1 : 0);
    if (doc.chaos.available) {
      this.g.chaosCoverage.set(doc.chaos.coverage7d);
      if (doc.chaos.successRate !== null) this.g.chaosSuccess.set(doc.chaos.successRate);
      this.g.chaosHighRiskPending.set(doc.chaos.highRiskPending);
    }
  }
}
