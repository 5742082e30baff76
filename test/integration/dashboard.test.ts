/**
 * The dashboard in a real browser (headless Chromium, test/support/browser.ts) on the suite's stack:
 * the four kernels ready with their checks, an incident appearing on the open page after a kernel
 * process is killed (no reload: the page updates itself), a link from the page opening the
 * incident's workflow in the Temporal Web UI, and the Web UI listing the boot when filtered by its
 * search attribute. Every request leaving loopback is refused, so both pages are shown to work offline
 * (the Web UI asks newsfeed.temporal.io for its news panel and renders without it; the dashboard asks
 * nothing beyond its own server).
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { connectStore, type Store } from '../../src/clients/store';
import { connectClient } from '../../src/clients/temporal';
import type { Client } from '@temporalio/client';
import { INCIDENTS_COLLECTION } from '../../src/clients/collections';
import * as faults from '../../src/chaos/faults';
import type { ScenarioContext } from '../../src/chaos/scenarios';
import { CONTROL_PLANE_WORKFLOW_ID } from '../../contracts/control-plane';
import { KindAttr } from '../../contracts/search-attributes';
import { dashboardUrl } from '../../src/dashboard/process';
import { KERNEL_NAMES } from '../../src/domain/kernels';
import { allKernelsReady } from '../../src/stack/kernel-readiness';
import { webUiUrl } from '../../src/stack/services';
import { processManager } from '../../src/stack/stack';
import { launchChromium, type Browser } from '../support/browser';
import { runCli } from '../support/cli';
import { stackAvailable, testConfig, TEST_CONFIG_FILE } from '../support/env';

const isLoopback = (url: string): boolean => {
  const { protocol, hostname } = new URL(url);
  return !/^https?:$/.test(protocol) || ['127.0.0.1', 'localhost', '[::1]'].includes(hostname);
};

describe('dashboard: the page in headless Chromium, linked into the Temporal Web UI', function () {
  this.timeout(300_000);
  const config = testConfig();
  let browser: Browser;
  let store: Store;
  let client: Client;
  let ctx: ScenarioContext;
  /** Requests the dashboard page made beyond loopback (refused): none is expected. */
  const foreign: string[] = [];
  let dashboard: Page;
  let incidentId: string;
  /** When this file's tests began (set in `before`: every file is loaded before the suite's stack starts). */
  let fileStartedAt: string;

  before(async function () {
    if (!stackAvailable()) this.skip();
    fileStartedAt = new Date().toISOString();
    browser = await launchChromium((m) => process.stderr.write(`  [browser] ${m}\n`));
    await browser.context.route('**/*', (route) => {
      const url = route.request().url();
      return isLoopback(url) ? route.continue() : route.abort('internetdisconnected');
    });
    store = await connectStore(config);
    client = await connectClient(config);
    ctx = { config, pm: processManager(config), db: store.db, temporal: client };
    await allKernelsReady(ctx, 60_000);
  });

  after(async () => {
    await browser?.close();
    await client?.connection.close();
    await store?.close();
  });

  it('status --json gives the URL that up printed', async () => {
    const res = await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json']);
    assert.equal(JSON.parse(res.stdout).dashboard, `http://127.0.0.1:${config.dashboard.port}/`, res.stderr);
  });

  it('shows the four kernels ready, each with its checks passing', async () => {
    const url = dashboardUrl(config);
    assert.ok(url, 'dashboard.enabled in the test config');
    dashboard = await browser.context.newPage();
    dashboard.on('request', (r) => void (isLoopback(r.url()) || foreign.push(r.url())));
    await dashboard.goto(url);
    for (const k of KERNEL_NAMES) {
      const card = dashboard.locator(`[data-kernel="${k}"][data-ready="true"]`);
      await card.waitFor({ timeout: 30_000 });
      const checks = await card.locator('li[data-check]').evaluateAll((lis) => lis.map((li) => ({ name: li.getAttribute('data-check'), ok: li.getAttribute('data-ok') })));
      assert.ok(checks.length >= 2, `${k} shows its checks: ${JSON.stringify(checks)}`);
      assert.deepEqual(checks.filter((c) => c.ok !== 'true'), [], `${k}'s checks all pass`);
    }
    assert.equal(KERNEL_NAMES.length, 4);
    assert.equal(await dashboard.locator('[data-kernel][data-ready]').count(), 4);
  });

  it('shows the incident a killed kernel process opens, without being reloaded', async () => {
    const since = new Date(Date.now() - 1_000).toISOString();
    const drawnBefore = await dashboard.locator('body').getAttribute('data-at');
    const injected = await faults.killProcess(ctx, { process: 'bus' });
    // The incident the kill opened (not an older one of the same kernel), as the store holds it.
    const incidents = store.db.collection<{ _id: string; openedAt: string; kernel: string }>(INCIDENTS_COLLECTION);
    const deadline = Date.now() + 120_000;
    let doc = null;
    while (!doc && Date.now() < deadline) {
      doc = await incidents.findOne({ kernel: 'message_bus', openedAt: { $gte: since } });
      if (!doc) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(doc, `an incident of message_bus opened within 120 s of the kill (${injected.detail})`);
    incidentId = doc._id;
    const row = dashboard.locator(`#incidents-open tr[data-incident="${incidentId}"], #incidents-recent tr[data-incident="${incidentId}"]`).first();
    await row.waitFor({ timeout: 30_000 });
    assert.equal(await row.getAttribute('data-kernel'), 'message_bus');
    assert.notEqual(await dashboard.locator('body').getAttribute('data-at'), drawnBefore, 'drawn again by the page itself');
    await allKernelsReady(ctx, 120_000);
  });

  it("opens the incident's workflow in the Temporal Web UI from the page's link", async () => {
    const link = dashboard.locator(`tr[data-incident="${incidentId}"] a.wf`).first();
    const href = await link.getAttribute('href');
    assert.ok(href?.startsWith(`${webUiUrl(config)}/namespaces/${config.temporal.namespace}/workflows/incident-`), `a Web UI link: ${href}`);
    const [ui] = await Promise.all([browser.context.waitForEvent('page'), link.click()]);
    const workflowId = decodeURIComponent(new URL(href!).pathname.split('/')[4]);
    // The Web UI resolves the latest run and shows the workflow's page (served by the dev server itself).
    await ui.waitForURL((u) => u.pathname.includes(`/workflows/${encodeURIComponent(workflowId)}/`), { timeout: 30_000 });
    await ui.getByText('incidentWorkflow').first().waitFor({ timeout: 30_000 });
    assert.match((await ui.title()) ?? '', new RegExp(workflowId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await ui.close();
  });

  it('the Web UI lists the boot when filtered by its search attribute (Layer1Kind = "boot")', async () => {
    const ui = await browser.context.newPage();
    await ui.goto(`${webUiUrl(config)}/namespaces/${config.temporal.namespace}/workflows?query=${encodeURIComponent('Layer1Kind = "boot"')}`);
    const row = ui.getByRole('link', { name: 'layer1-boot', exact: true }).first();
    await row.waitFor({ timeout: 30_000 });
    await ui.getByText('bootWorkflow').first().waitFor({ timeout: 10_000 });
    // And nothing else: only boots carry that kind.
    assert.equal(await ui.getByText('controlPlaneWorkflow').count(), 0);
    await ui.close();
  });

  // Since this file started: other files start some workflows themselves, as test harnesses (a boot
  // under another id, a change set), without what Layer 1's own starters give.
  it('every workflow Layer 1 started meanwhile carries Layer1Kind and a layer1 memo with its summary', async () => {
    const missing: string[] = [];
    const kinds = new Set<string>();
    for await (const wf of client.workflow.list({ query: `StartTime >= "${fileStartedAt}"` })) {
      const kind = wf.typedSearchAttributes.get(KindAttr);
      const memo = wf.memo?.layer1 as { kind?: string; summary?: string } | undefined;
      if (!kind || memo?.kind !== kind || !memo.summary) missing.push(`${wf.type} ${wf.workflowId}: kind ${kind ?? '-'}, memo ${JSON.stringify(wf.memo ?? null)}`);
      if (kind) kinds.add(kind);
    }
    assert.deepEqual(missing, []);
    // What a killed bus starts, at least: the incident and its playbook, a child.
    for (const k of ['incident', 'playbook']) assert.ok(kinds.has(k), `a ${k} workflow was listed (kinds: ${[...kinds].join(', ')})`);
    const cp = await client.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID).describe();
    assert.equal(cp.typedSearchAttributes.get(KindAttr), 'control-plane');
  });

  it('the dashboard loaded nothing from beyond loopback', () => {
    assert.deepEqual(foreign, []);
  });
});
