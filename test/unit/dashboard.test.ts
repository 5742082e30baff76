import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { BootReport } from '../../contracts/boot';
import type { PlaybookReport } from '../../contracts/playbook';
import { findable } from '../../contracts/search-attributes';
import { DashboardPortBusyError, serveDashboard } from '../../src/dashboard/server';
import { dashboardState, webUiLinks, type ChaosLedgerDoc, type DashboardInputs } from '../../src/dashboard/state';
import type { IncidentDoc } from '../../src/incidents/format';
import type { KnowledgeEntry } from '../../src/knowledge/types';
import type { KernelStatus } from '../../src/stack/kernel-status';

const UI = 'http://127.0.0.1:8233';

const kernel = (name: KernelStatus['name'], ready: boolean): KernelStatus => ({
  name,
  state: ready ? 'READY' : 'UNHEALTHY',
  ready,
  pid: ready ? 100 : null,
  restarts: ready ? 0 : 2,
  checks: [{ name: 'writable', ok: ready, detail: ready ? 'appended' : 'refused', ms: 3 }],
  critical: true,
  processes: { [name]: ready ? 100 : null },
  uptimeMs: ready ? 5000 : null,
  crashLoop: false,
  backoffMs: 0,
  lastReason: ready ? null : 'exited',
  checkedAt: '2026-12-06T10:00:00.000Z',
});

const incident = (id: string, state: IncidentDoc['state'], openedAt: string, extra: Partial<IncidentDoc> = {}): IncidentDoc => ({
  _id: id,
  id,
  signature: `sig_${id}`,
  kernel: 'message_bus',
  state,
  openedAt,
  closedAt: null,
  known: false,
  autoApplied: false,
  remedy: null,
  timeToHealMs: null,
  workflowId: `incident-sig_${id}`,
  ...extra,
});

const entry = (signature: string, confidence: number): KnowledgeEntry => ({
  signature,
  template: 't',
  kernel: 'message_bus',
  errorType: 'Exited',
  examples: [],
  firstSeen: '2026-12-06T09:00:00.000Z',
  lastSeen: '2026-12-06T10:00:00.000Z',
  occurrences: 3,
  remedy: { kind: 'playbook', name: 'restart_message_bus', params: {} },
  successes: 2,
  failures: 0,
  confidence,
  autoApply: confidence > 0.5,
  manualOnly: false,
  mtthKnownMs: null,
  mtthNewMs: null,
});

function inputs(over: Partial<DashboardInputs> = {}): DashboardInputs {
  return {
    now: new Date('2026-12-06T10:00:05.000Z'),
    webUi: UI,
    namespace: 'default',
    refreshMs: 2000,
    kernels: [kernel('message_bus', true), kernel('immutable_log', false)],
    kernelsWhy: null,
    events: Array.from({ length: 12 }, (_, i) => ({ at: `2026-12-06T10:00:${String(i).padStart(2, '0')}.000Z`, kernel: 'message_bus', what: `event ${i}` })),
    boots: [
      {
        bootId: 'layer1-boot/run-1',
        ok: true,
        degraded: false,
        currentPhase: 'done',
        phases: [],
        preflight: [],
        kernels: [{ kernel: 'message_bus', ready: true, timeToReadyMs: 900, retries: 0 }],
        failedChecks: [],
        startedAt: '2026-12-06T09:59:00.000Z',
        finishedAt: '2026-12-06T09:59:05.000Z',
      } as unknown as BootReport,
    ],
    incidents: [
      incident('inc-open', 'remedying', '2026-12-06T09:58:00.000Z'),
      incident('inc-late', 'closed', '2026-12-06T09:50:00.000Z', { closedAt: '2026-12-06T09:51:00.000Z', timeToHealMs: 4000, known: true }),
      incident('inc-early', 'closed', '2026-12-06T09:40:00.000Z', { closedAt: new Date('2026-12-06T09:41:00.000Z'), timeToHealMs: 12000 }),
      incident('inc-reopened', 'reopened', '2026-12-06T09:45:00.000Z'),
    ],
    knowledge: [entry('sig_low', 0.2), entry('sig_high', 0.7)],
    playbookRuns: [
      { workflowId: 'playbook-restart_message_bus-message_bus', playbook: 'restart_message_bus', kernel: 'message_bus', dryRun: false, outcome: 'succeeded', startedAt: '2026-12-06T09:58:01.000Z', finishedAt: '2026-12-06T09:58:03.500Z' } as PlaybookReport,
      { workflowId: 'playbook-x', playbook: 'x', kernel: null, dryRun: false, outcome: 'running', startedAt: '2026-12-06T09:59:00.000Z', finishedAt: null } as unknown as PlaybookReport,
    ],
    drills: [],
    ...over,
  };
}

describe('dashboard state (the /api/state builder)', () => {
  it('links each item to its workflow in the Web UI, and lists by a query', () => {
    const s = dashboardState(inputs());
    assert.equal(s.controlPlane.link, `${UI}/namespaces/default/workflows/layer1-control-plane`);
    assert.equal(s.boots[0].link, `${UI}/namespaces/default/workflows/layer1-boot/run-1`);
    assert.equal(s.incidents.open[0].link, `${UI}/namespaces/default/workflows/incident-sig_inc-open`);
    assert.equal(s.playbookRuns[0].link, `${UI}/namespaces/default/workflows/playbook-restart_message_bus-message_bus`);
    assert.equal(s.knowledge[0].link, `${UI}/namespaces/default/workflows?query=${encodeURIComponent('Layer1Signature = "sig_high"')}`);
    assert.equal(s.kernels[0].workflows, `${UI}/namespaces/default/workflows?query=${encodeURIComponent('Layer1Kernel = "message_bus"')}`);
  });

  it('links nowhere when there is no Web UI', () => {
    const s = dashboardState(inputs({ webUi: null }));
    assert.equal(s.controlPlane.link, null);
    assert.equal(s.incidents.open[0].link, null);
    assert.equal(s.knowledge[0].link, null);
    assert.equal(webUiLinks(null, 'default').list('x'), null);
  });

  it('escapes ids and namespaces in links', () => {
    const links = webUiLinks(`${UI}/`, 'my ns');
    assert.equal(links.workflow('a/b c'), `${UI}/namespaces/my%20ns/workflows/a%2Fb%20c`);
  });

  it('shows every check of each kernel, and each process as a liveness check', () => {
    const [bus, log] = dashboardState(inputs()).kernels;
    assert.deepEqual(bus.checks.map((c) => [c.name, c.ok]), [['writable', true], ['process message_bus', true]]);
    assert.equal(log.ready, false);
    assert.deepEqual(log.checks.map((c) => [c.name, c.ok]), [['writable', false], ['process immutable_log', false]]);
    assert.equal(log.lastReason, 'exited');
  });

  it('splits open incidents from recent ones, newest first', () => {
    const s = dashboardState(inputs());
    assert.deepEqual(s.incidents.open.map((i) => i.id), ['inc-open']);
    assert.deepEqual(s.incidents.recent.map((i) => i.id), ['inc-late', 'inc-reopened', 'inc-early']);
    assert.equal(s.incidents.recent[2].closedAt, '2026-12-06T09:41:00.000Z', 'a Date from the store is shown as ISO time');
  });

  it('charts the time to heal of closed incidents in the order they closed', () => {
    assert.deepEqual(
      dashboardState(inputs()).timeToHeal.map((p) => [p.incident, p.ms, p.known]),
      [
        ['inc-early', 12000, false],
        ['inc-late', 4000, true],
      ],
    );
  });

  it('orders the knowledge base by confidence, and gives playbook runs their duration', () => {
    const s = dashboardState(inputs());
    assert.deepEqual(s.knowledge.map((e) => [e.signature, e.confidence, e.autoApply]), [['sig_high', 0.7, true], ['sig_low', 0.2, false]]);
    assert.equal(s.knowledge[0].remedy, 'playbook restart_message_bus');
    assert.deepEqual(s.playbookRuns.map((r) => r.durationMs), [2500, null]);
  });

  it('keeps the last 10 control plane events, newest first', () => {
    const ev = dashboardState(inputs()).controlPlane.events;
    assert.equal(ev.length, 10);
    assert.equal(ev[0].what, 'event 11');
  });

  it('says "no drills yet" for an empty chaos ledger, and why when it cannot be read', () => {
    assert.deepEqual(dashboardState(inputs()).chaos, { available: false, reason: 'no drills yet', cards: [], drills: [] });
    const unreadable = dashboardState(inputs({ drills: null })).chaos;
    assert.equal(unreadable.available, false);
    assert.match(unreadable.reason ?? '', /chaos_ledger/);
  });

  it('sums drills per card (coverage, success rate, last outcome) and links each drill and card', () => {
    const drill = (id: string, card: string, ok: boolean, at: string): ChaosLedgerDoc => ({
      _id: id,
      card,
      ok,
      startedAt: new Date(at),
      endedAt: new Date(Date.parse(at) + 5000),
      gates: [{ name: 'detected', ok, ms: 120, detail: 'seen' }],
      timeToDetectMs: 120,
      timeToRecoverMs: ok ? 3000 : null,
    });
    const chaos = dashboardState(
      inputs({
        drills: [drill('drill-a-1', 'bus_kill', true, '2026-12-06T09:00:00Z'), drill('drill-a-2', 'bus_kill', false, '2026-12-06T09:10:00Z'), drill('drill-b-1', 'log_corrupt', true, '2026-12-06T09:05:00Z')],
      }),
    ).chaos;
    assert.equal(chaos.available, true);
    assert.deepEqual(
      chaos.cards.map((c) => [c.card, c.drills, c.passed, c.successRate, c.lastOk, c.lastAt]),
      [
        ['bus_kill', 2, 1, 0.5, false, '2026-12-06T09:10:00.000Z'],
        ['log_corrupt', 1, 1, 1, true, '2026-12-06T09:05:00.000Z'],
      ],
    );
    assert.equal(chaos.cards[0].link, `${UI}/namespaces/default/workflows?query=${encodeURIComponent('Layer1Card = "bus_kill"')}`);
    assert.deepEqual(chaos.drills.map((d) => d.id), ['drill-a-2', 'drill-b-1', 'drill-a-1']);
    assert.equal(chaos.drills[0].link, `${UI}/namespaces/default/workflows/drill-a-2`);
    assert.deepEqual(chaos.drills[0].gates, [{ name: 'detected', ok: false, ms: 120, detail: 'seen' }]);
  });
});

describe('dashboard server', () => {
  it('serves the page, its script and the state, read-only', async () => {
    const server = await serveDashboard(async () => ({ hello: 'state' }), '127.0.0.1', 0);
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /<script src="\/app\.js"/);
      assert.doesNotMatch(html, /https?:\/\//, 'nothing loaded from elsewhere');
      assert.equal((await fetch(`${base}/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
      assert.deepEqual(await (await fetch(`${base}/api/state`)).json(), { hello: 'state' });
      const post = await fetch(`${base}/api/state`, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      assert.equal((await fetch(`${base}/nope`)).status, 404);
    } finally {
      server.close();
    }
  });

  it('answers 503 with the error when the state cannot be read', async () => {
    const server = await serveDashboard(async () => Promise.reject(new Error('store down')), '127.0.0.1', 0);
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/state`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { error: 'store down' });
    } finally {
      server.close();
    }
  });

  it('names dashboard.port when the port is taken', async () => {
    const first = await serveDashboard(async () => ({}), '127.0.0.1', 0);
    try {
      const port = (first.address() as AddressInfo).port;
      await assert.rejects(serveDashboard(async () => ({}), '127.0.0.1', port), (err: Error) => err instanceof DashboardPortBusyError && /dashboard\.port/.test(err.message));
    } finally {
      first.close();
    }
  });
});

describe('findable workflows (contracts/search-attributes.ts)', () => {
  it('gives the kind and what is known as search attributes, and the same with a summary as memo', () => {
    const f = findable({ kind: 'playbook', playbook: 'restart_message_bus', kernel: 'message_bus', incident: null, summary: 'why' });
    assert.deepEqual(
      f.typedSearchAttributes.map((p) => [p.key.name, p.value]),
      [
        ['Layer1Kind', 'playbook'],
        ['Layer1Kernel', 'message_bus'],
        ['Layer1Playbook', 'restart_message_bus'],
      ],
    );
    assert.deepEqual(f.memo, { layer1: { kind: 'playbook', summary: 'why', kernel: 'message_bus', playbook: 'restart_message_bus' } });
  });
});
