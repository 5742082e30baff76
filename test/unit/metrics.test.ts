import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Layer1Metrics, METRIC_DEFS } from '../../src/metrics/registry';
import { MetricsPortBusyError, serveMetrics } from '../../src/metrics/server';
import { REPO_ROOT } from '../../src/stack/repo-root';
import type { TelemetryDocument, TelemetrySamples } from '../../src/telemetry/collect';
import { parsePrometheusStrict } from '../support/prometheus';
import { DEFAULT_POLICY_FILE, loadPolicy } from '../../kernels/message-bus/policy';
import { policyAllows } from '../../kernels/message-bus/violations';
import { TELEMETRY_SUBJECT } from '../../src/telemetry/collect';

const DOC: TelemetryDocument = {
  version: 1,
  id: 'unit',
  at: '2026-12-06T10:00:00.000Z',
  readiness: { message_bus: { count: 2, ready: 2, avgMs: 150, minMs: 100, maxMs: 200, retries: 1 } },
  playbooks: { restart_message_bus: { total: 3, success: 2, failure: 1, avgMs: 4000 } },
  control_plane: { available: true, kernels: { total: 4, running: 3, failed: 1 }, restarts: { message_bus: 2 }, states: { message_bus: 'READY', coding_agent: 'FAILED' }, crashLoops: [] },
  self_learning: {
    available: true,
    knownSignatures: 2,
    withRemedy: 1,
    autoApplyEnabled: 1,
    confidence: { sig_a: 0.549 },
    mtthKnownMs: 4000,
    mtthNewMs: 12000,
    incidents: { total: 3, open: 1, closed: 2, reopened: 0 },
  },
  chaos: { available: false, reason: 'no chaos_ledger' },
};
const SAMPLES: TelemetrySamples = {
  timeToReadyMs: [{ kernel: 'message_bus', ms: 100 }, { kernel: 'message_bus', ms: 200 }],
  playbookMs: [{ playbook: 'restart_message_bus', outcome: 'success', ms: 4000 }],
  timeToHealMs: [{ known: true, ms: 4000 }, { known: false, ms: 12000 }],
};

describe('metrics: /metrics in the Prometheus text format', () => {
  it('serves every documented metric, valid Prometheus text, with the figures of the document', async () => {
    const metrics = new Layer1Metrics(async () => ({ document: DOC, samples: SAMPLES }));
    const server = await serveMetrics(metrics, '127.0.0.1', 0);
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const families = parsePrometheusStrict(text);
      const byName = new Map(families.map((f) => [f.name, f]));
      for (const def of Object.values(METRIC_DEFS)) {
        assert.equal(byName.get(def.name)?.type, def.type.toUpperCase(), `${def.name} is served as a ${def.type}`);
      }
      assert.ok(byName.has('process_cpu_user_seconds_total') && byName.has('nodejs_heap_size_used_bytes'), "the process's own metrics");
      const value = (name: string, labels: Record<string, string>): string | undefined =>
        byName.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;
      assert.equal(value('layer1_kernel_boots_total', { kernel: 'message_bus' }), '2');
      assert.equal(value('layer1_kernel_up', { kernel: 'coding_agent' }), '0');
      assert.equal(value('layer1_playbook_runs_total', { playbook: 'restart_message_bus', outcome: 'failure' }), '1');
      assert.equal(value('layer1_telemetry_section_available', { section: 'chaos' }), '0');
      const ttr = byName.get('layer1_kernel_time_to_ready_seconds')?.metrics[0];
      // The parser keeps a labelled histogram's buckets only: its count is the +Inf bucket, its sum read from the text.
      assert.equal(ttr?.buckets?.['+Inf'], '2');
      assert.equal(ttr?.buckets?.['0.1'], '1');
      const sum = /^layer1_kernel_time_to_ready_seconds_sum\{kernel="message_bus"\} (\S+)$/m.exec(text)?.[1];
      assert.ok(Math.abs(Number(sum) - 0.3) < 1e-9, `sum ${sum}`);
      assert.match(text, /^layer1_kernel_time_to_ready_seconds_count\{kernel="message_bus"\} 2$/m);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    } finally {
      server.close();
    }
  });

  it('serves the chaos figures once the ledger has drills', async () => {
    const chaos = { available: true as const, cards: 12, cardsDrilled: 10, drills: 20, successRate: 0.9, coverage7d: 0.75, highRiskPending: 2 };
    const metrics = new Layer1Metrics(async () => ({ document: { ...DOC, chaos }, samples: SAMPLES }));
    const families = parsePrometheusStrict(await metrics.scrape());
    const get = (name: string): string | undefined => families.find((f) => f.name === name)?.metrics[0]?.value;
    assert.equal(get('layer1_chaos_coverage_ratio'), '0.75');
    assert.equal(get('layer1_chaos_success_ratio'), '0.9');
    assert.equal(get('layer1_chaos_high_risk_pending'), '2');
  });

  it('keeps the last figures and says so when the store does not answer', async () => {
    let fail = false;
    const metrics = new Layer1Metrics(async () => {
      if (fail) throw new Error('store down');
      return { document: DOC, samples: SAMPLES };
    });
    await metrics.scrape();
    fail = true;
    const families = parsePrometheusStrict(await metrics.scrape());
    const get = (n: string) => families.find((f) => f.name === n)?.metrics[0]?.value;
    assert.equal(get('layer1_telemetry_collect_success'), '0');
    assert.equal(get('layer1_knowledge_signatures'), '2');
  });

  it('says which config key to change when the port is taken', async () => {
    const first = await serveMetrics(new Layer1Metrics(async () => ({ document: DOC, samples: SAMPLES })), '127.0.0.1', 0);
    try {
      const { port } = first.address() as AddressInfo;
      await assert.rejects(serveMetrics(new Layer1Metrics(async () => ({ document: DOC, samples: SAMPLES })), '127.0.0.1', port), (err: unknown) => {
        assert.ok(err instanceof MetricsPortBusyError);
        assert.match(err.message, new RegExp(`port ${port} on 127\\.0\\.0\\.1 \\(metrics\\.port\\) is already in use`));
        return true;
      });
    } finally {
      first.close();
    }
  });

  it('docs/metrics.md lists every metric with its type and labels, and no other', () => {
    const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8');
    const table = doc.slice(doc.indexOf('<!-- metrics:table -->'), doc.indexOf('<!-- /metrics:table -->'));
    const rows = [...table.matchAll(/^\| `([a-z_0-9]+)` \| (\w+) \| ([^|]*) \|/gm)].map((m) => ({
      name: m[1],
      type: m[2],
      // A label's values are listed in parentheses after it: only the names outside them are labels.
      labels: [...m[3].replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((l) => l[1]),
    }));
    const defs = Object.values(METRIC_DEFS).map((d) => ({ name: d.name, type: d.type, labels: [...d.labels] }));
    assert.deepEqual(rows.sort((a, b) => a.name.localeCompare(b.name)), defs.sort((a, b) => a.name.localeCompare(b.name)));
  });

  it('the ACL policy lets the healing workers publish the telemetry document and an operator read it, and no other kernel read it', () => {
    const policy = loadPolicy(DEFAULT_POLICY_FILE);
    assert.equal(policyAllows(policy, { op: 'publish', user: 'self_healing', subject: TELEMETRY_SUBJECT }), true);
    assert.equal(policyAllows(policy, { op: 'subscribe', user: 'operator', subject: TELEMETRY_SUBJECT }), true);
    assert.equal(policyAllows(policy, { op: 'subscribe', user: 'coding_agent', subject: TELEMETRY_SUBJECT }), false);
  });
});
