// The dashboard page: asks /api/state every `refreshMs` and redraws. Read-only, vanilla DOM, no
// framework and nothing from a CDN, so it works on a machine without network. Every text the store
// holds goes in as a text node, never as HTML. Links come built from the state (src/dashboard/state.ts).
'use strict';

const SVG = 'http://www.w3.org/2000/svg';

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined && v !== false) e.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** A link into the Temporal Web UI, or the bare text when there is no Web UI. */
function wf(text, href) {
  return href ? el('a', { href, class: 'wf', target: '_blank', rel: 'noopener' }, text) : el('span', {}, text);
}

function mark(ok) {
  return el('span', { class: ok ? 'ok' : 'bad' }, ok ? '✓' : '✗');
}

function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function time(t) {
  return t ? new Date(t).toLocaleString() : '-';
}

/** Replaces a table's rows; an empty list shows `empty` in one row. */
function fill(id, header, rows, empty) {
  const table = document.getElementById(id);
  table.replaceChildren();
  if (rows.length === 0) {
    table.append(el('tr', {}, el('td', { class: 'muted' }, empty)));
    return;
  }
  table.append(el('tr', {}, ...header.map((h) => el('th', {}, h))));
  for (const r of rows) table.append(r);
}

function drawKernels(state) {
  const box = document.getElementById('kernels');
  box.replaceChildren(
    ...state.kernels.map((k) =>
      el(
        'div',
        { class: 'kernel', 'data-kernel': k.name, 'data-ready': String(k.ready), 'data-state': k.state },
        el('h3', {}, mark(k.ready), wf(k.name, k.link), el('span', { class: 'badge' }, k.state), k.critical ? null : el('span', { class: 'badge' }, 'optional')),
        el(
          'div',
          { class: 'muted' },
          `restarts ${k.restarts}`,
          k.uptimeMs !== null ? `, ready for ${duration(k.uptimeMs)}` : '',
          k.crashLoop ? ', CRASH LOOP' : '',
          k.checkedAt ? `, checked ${time(k.checkedAt)}` : '',
          ' · ',
          wf('its workflows', k.workflows),
        ),
        k.lastReason ? el('div', { class: 'warn' }, `last: ${k.lastReason}`) : null,
        el('ul', {}, ...k.checks.map((c) => el('li', { 'data-check': c.name, 'data-ok': String(c.ok) }, mark(c.ok), ` ${c.name} `, el('span', { class: 'muted' }, `${c.detail}${c.ms ? ` (${c.ms} ms)` : ''}`)))),
      ),
    ),
  );
  const why = document.getElementById('kernels-why');
  why.hidden = !state.controlPlane.why;
  why.textContent = state.controlPlane.why || '';
  const cp = document.getElementById('control-plane-link');
  cp.hidden = !state.controlPlane.link;
  if (state.controlPlane.link) cp.href = state.controlPlane.link;
}

function incidentRow(i) {
  return el(
    'tr',
    { 'data-incident': i.id, 'data-state': i.state, 'data-kernel': i.kernel || '' },
    el('td', {}, wf(i.id, i.link)),
    el('td', {}, i.state),
    el('td', {}, i.kernel || '-'),
    el('td', { class: 'wrap' }, i.signature || '-'),
    el('td', {}, time(i.openedAt)),
    el('td', {}, i.remedy || '-', i.autoApplied ? ' (auto)' : ''),
    el('td', {}, duration(i.timeToHealMs)),
  );
}

function drawIncidents(state) {
  const header = ['incident', 'state', 'kernel', 'signature', 'opened', 'remedy', 'time to heal'];
  fill('incidents-open', header, state.incidents.open.map(incidentRow), 'no open incidents');
  fill('incidents-recent', header, state.incidents.recent.map(incidentRow), 'no incidents yet');
}

function drawKnowledge(state) {
  fill(
    'knowledge',
    ['signature', 'kernel', 'remedy', 'confidence', 'verified', 'auto-apply', 'seen'],
    state.knowledge.map((e) =>
      el(
        'tr',
        { 'data-signature': e.signature },
        el('td', { class: 'wrap' }, wf(e.signature, e.link)),
        el('td', {}, e.kernel || '-'),
        el('td', {}, e.remedy || '-'),
        el('td', {}, e.confidence.toFixed(3)),
        el('td', {}, `${e.successes} ✓ / ${e.failures} ✗`),
        el('td', {}, e.autoApply ? 'yes' : 'no'),
        el('td', {}, `${e.occurrences}×, last ${time(e.lastSeen)}`),
      ),
    ),
    'the knowledge base is empty',
  );
}

function drawPlaybookRuns(state) {
  fill(
    'playbook-runs',
    ['run', 'playbook', 'kernel', 'outcome', 'started', 'duration'],
    state.playbookRuns.map((r) =>
      el(
        'tr',
        { 'data-run': r.workflowId },
        el('td', { class: 'wrap' }, wf(r.workflowId, r.link)),
        el('td', {}, r.playbook, r.dryRun ? ' (dry run)' : ''),
        el('td', {}, r.kernel || '-'),
        el('td', { class: r.outcome === 'succeeded' ? 'ok' : ['failed', 'compensated', 'refused'].includes(r.outcome) ? 'bad' : '' }, r.outcome),
        el('td', {}, time(r.startedAt)),
        el('td', {}, duration(r.durationMs)),
      ),
    ),
    'no playbook runs yet',
  );
}

function drawChaos(state) {
  const c = state.chaos;
  const why = document.getElementById('chaos-why');
  why.hidden = c.available;
  why.textContent = c.reason || '';
  fill(
    'chaos-cards',
    ['card', 'drills', 'passed', 'success rate', 'last'],
    c.cards.map((k) => el('tr', { 'data-card': k.card }, el('td', {}, wf(k.card, k.link)), el('td', {}, k.drills), el('td', {}, k.passed), el('td', {}, `${Math.round(k.successRate * 100)} %`), el('td', {}, mark(k.lastOk), ` ${time(k.lastAt)}`))),
    '',
  );
  fill(
    'chaos-drills',
    ['drill', 'card', 'ok', 'started', 'detect', 'recover', 'gates'],
    c.drills.map((d) =>
      el(
        'tr',
        { 'data-drill': d.id },
        el('td', { class: 'wrap' }, wf(d.id, d.link)),
        el('td', {}, d.card),
        el('td', {}, mark(d.ok)),
        el('td', {}, time(d.startedAt)),
        el('td', {}, duration(d.timeToDetectMs)),
        el('td', {}, duration(d.timeToRecoverMs)),
        el('td', { class: 'wrap' }, ...d.gates.map((g) => el('span', { title: g.detail }, mark(g.ok), ` ${g.name} `))),
      ),
    ),
    '',
  );
  if (!c.available) {
    document.getElementById('chaos-cards').replaceChildren();
    document.getElementById('chaos-drills').replaceChildren();
  }
}

function drawBoots(state) {
  fill(
    'boots',
    ['boot', 'outcome', 'started', 'kernels ready'],
    state.boots.map((b) =>
      el(
        'tr',
        { 'data-boot': b.bootId },
        el('td', { class: 'wrap' }, wf(b.bootId, b.link)),
        el('td', { class: b.ok ? (b.degraded ? 'warn' : 'ok') : 'bad' }, b.ok ? (b.degraded ? 'degraded' : 'ready') : 'failed'),
        el('td', {}, time(b.startedAt)),
        el('td', { class: 'wrap' }, b.kernels.map((k) => `${k.ready ? '✓' : '✗'} ${k.kernel} ${duration(k.timeToReadyMs)}`).join(', ')),
      ),
    ),
    'no boots recorded',
  );
}

function drawEvents(state) {
  fill(
    'events',
    ['at', 'kernel', 'what'],
    state.controlPlane.events.map((e) => el('tr', {}, el('td', {}, time(e.at)), el('td', {}, e.kernel), el('td', { class: 'wrap' }, e.what))),
    'no events',
  );
}

/** Time to heal of each closed incident, in the order they closed: a dot each, known and new apart. */
function drawHealChart(state) {
  const box = document.getElementById('heal-chart');
  const pts = state.timeToHeal;
  if (pts.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, 'no closed incidents yet'));
    return;
  }
  const W = 560, H = 200, L = 56, B = 24, T = 8, R = 8;
  const xs = pts.map((p) => Date.parse(p.at));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const yMax = Math.max(...pts.map((p) => p.ms), 1);
  const x = (t) => L + ((t - x0) / (x1 - x0)) * (W - L - R);
  const y = (ms) => H - B - (ms / yMax) * (H - B - T);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', '100%');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'time to heal over time');
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  add('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' });
  add('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' });
  add('text', { x: 2, y: T + 10 }, duration(yMax));
  add('text', { x: 2, y: H - B }, '0');
  add('text', { x: L, y: H - 6 }, time(pts[0].at));
  add('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, time(pts[pts.length - 1].at));
  for (const p of pts) {
    const a = document.createElementNS(SVG, 'a');
    if (p.link) a.setAttribute('href', p.link);
    const c = document.createElementNS(SVG, 'circle');
    for (const [k, v] of Object.entries({ cx: x(Date.parse(p.at)), cy: y(p.ms), r: 4, class: p.known ? 'known' : 'new', 'data-incident': p.incident })) c.setAttribute(k, String(v));
    const t = document.createElementNS(SVG, 'title');
    t.textContent = `${p.incident}: ${duration(p.ms)} (${p.known ? 'known' : 'new'} signature)`;
    c.append(t);
    a.append(c);
    svg.append(a);
  }
  box.replaceChildren(svg, el('p', { class: 'muted' }, el('span', { class: 'ok' }, '●'), ' known signature (remedy from the knowledge base)  ', el('span', { class: 'new-dot' }, '●'), ' new'));
}

function draw(state) {
  const ui = document.getElementById('webui');
  ui.hidden = !state.webUi;
  if (state.webUi) ui.href = state.webUi;
  drawKernels(state);
  drawIncidents(state);
  drawHealChart(state);
  drawKnowledge(state);
  drawPlaybookRuns(state);
  drawChaos(state);
  drawBoots(state);
  drawEvents(state);
  document.getElementById('updated').textContent = `updated ${time(state.at)}`;
  document.body.dataset.at = state.at;
}

let refreshMs = 2000;

async function refresh() {
  const error = document.getElementById('error');
  try {
    const res = await fetch('/api/state', { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    refreshMs = body.refreshMs || refreshMs;
    draw(body);
    error.hidden = true;
  } catch (err) {
    // Keep what was drawn: a store that is briefly away should not blank the page.
    error.hidden = false;
    error.textContent = `cannot read the state: ${err.message}`;
  } finally {
    setTimeout(refresh, refreshMs);
  }
}

refresh();
