import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, ConfigError } from '../../src/config/load';
import { applyUnifiedDiff } from '../../src/coding-agent/diff';
import { extractDiff, llmFixer, LlmFixError, type LlmSettings } from '../../src/coding-agent/fixers/llm';
import { makeEvidence, type Evidence } from '../../src/healing/evidence';
import type { FixerInput } from '../../src/coding-agent/change-set';

const FILE = '/tmp/layer1-llm-test/temporal.config.yaml';

const ORIGINAL = ['export function add(a: number, b: number): number {', '  return a - b;', '}', ''].join('\n');
const FIXED = ['export function add(a: number, b: number): number {', '  return a + b;', '}', ''].join('\n');

const GOOD_DIFF = [
  'diff --git a/src/math.ts b/src/math.ts',
  '--- a/src/math.ts',
  '+++ b/src/math.ts',
  '@@ -1,3 +1,3 @@',
  ' export function add(a: number, b: number): number {',
  '-  return a - b;',
  '+  return a + b;',
  ' }',
  '',
].join('\n');

/** Context that is not in the file: the hunk cannot fit. */
const STALE_DIFF = [
  '--- a/src/math.ts',
  '+++ b/src/math.ts',
  '@@ -1,3 +1,3 @@',
  ' export function add(x: number, y: number): number {',
  '-  return x * y;',
  '+  return x + y;',
  ' }',
  '',
].join('\n');

const UNSAFE_DIFF = ['--- a/../outside.ts', '+++ b/../outside.ts', '@@ -1,1 +1,1 @@', '-a', '+b', ''].join('\n');

interface Fake {
  server: Server;
  url: string;
  requests: Array<{ url: string; headers: IncomingMessage['headers']; body: any }>;
  /** What the next request is answered with; `hang` never answers. */
  reply: { kind: 'answer'; content: string } | { kind: 'status'; status: number } | { kind: 'hang' };
}

async function fakeServer(): Promise<Fake> {
  const fake: Fake = { server: undefined as unknown as Server, url: '', requests: [], reply: { kind: 'answer', content: '' } };
  fake.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      fake.requests.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      const r = fake.reply;
      if (r.kind === 'hang') return;
      if (r.kind === 'status') {
        res.writeHead(r.status, { 'content-type': 'application/json' }).end('{"error":"boom"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: r.content }, finish_reason: 'stop' }] }));
    });
  });
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}/v1`;
  return fake;
}

const evidence = (root: string): Evidence =>
  makeEvidence({
    kind: 'not_ready',
    kernel: 'coding_agent',
    process: 'coding-agent-1',
    pid: 7,
    detail: 'self-test failed: add(1, 2) returned -1',
    text: `AssertionError: expected 3, got -1\n    at add (${path.join(root, 'src/math.ts')}:2:3)\n    at /etc/passwd:1:1`,
    at: 1,
    observer: 'healing-1',
    key: 'k',
  });

async function rejection(p: Promise<unknown>): Promise<LlmFixError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LlmFixError) return err;
    throw err;
  }
  assert.fail('expected an LlmFixError');
}

describe('coding agent: the LLM fixer', () => {
  let fake: Fake;
  let root: string;
  let input: FixerInput;
  let settings: LlmSettings;

  beforeEach(async () => {
    fake = await fakeServer();
    root = mkdtempSync(path.join(tmpdir(), 'layer1-llm-'));
    mkdirSync(path.join(root, 'src'));
    writeFileSync(path.join(root, 'src/math.ts'), ORIGINAL);
    input = {
      evidence: evidence(root),
      diagnostics: { logLines: ['booting', 'self-test add failed'], heartbeats: [], resources: {} },
      projectRoot: root,
      stateDir: path.join(root, '.layer1'),
    };
    settings = parseConfig(['codingAgent:', '  llm:', '    enabled: true', `    url: ${fake.url}`, '    model: fake-coder', '    timeoutMs: 400'].join('\n'), FILE, {}).codingAgent.llm;
  });

  afterEach(async () => {
    fake.server.closeAllConnections();
    await new Promise<void>((resolve) => fake.server.close(() => resolve()));
    rmSync(root, { recursive: true, force: true });
  });

  it('is off by default: handles nothing and sends nothing', async () => {
    const defaults = parseConfig('', FILE, {}).codingAgent.llm;
    assert.equal(defaults.enabled, false);
    assert.equal(defaults.url, null);
    assert.equal(defaults.apiKeyEnv, 'LAYER1_LLM_API_KEY');
    const fixer = llmFixer(defaults);
    assert.equal(fixer.name, 'llm');
    assert.equal(fixer.handles(input.evidence), false);
    assert.equal(await fixer.propose(input), null);
    assert.equal(fake.requests.length, 0);
  });

  it('refuses a config that enables it without url or model, naming the field', () => {
    try {
      parseConfig('codingAgent:\n  llm:\n    enabled: true\n    model: m\n', FILE, {});
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.deepEqual(err.problems.map((p) => p.path), ['codingAgent.llm.url']);
      assert.match(err.problems[0].message, /codingAgent\.llm\.url is not set/);
    }
  });

  it('proposes a good diff as a change set that applies to the expected file', async () => {
    fake.reply = { kind: 'answer', content: `The sign is wrong.\n\n\`\`\`diff\n${GOOD_DIFF}\`\`\`\n` };
    const fixer = llmFixer(settings, { env: {} });
    assert.equal(fixer.handles(input.evidence), true);
    const cs = await fixer.propose(input);
    assert.ok(cs);
    assert.equal(cs.fixer, 'llm');
    assert.equal(cs.restartKernel, 'coding_agent');
    assert.equal(cs.files.length, 1);
    const [f] = cs.files;
    assert.deepEqual([f.root, f.path, f.source, f.content], ['project', 'src/math.ts', 'llm:fake-coder', undefined]);
    assert.equal(applyUnifiedDiff(ORIGINAL, f.diff!), FIXED);
    assert.deepEqual(cs.commands.map((c) => c.argv), [['npm', '--prefix', '{root}', 'run', 'build']]);
    assert.equal(readFileSync(path.join(root, 'src/math.ts'), 'utf8'), ORIGINAL, 'the fixer never writes');
  });

  it('sends the model, temperature 0, the evidence, the log lines and the named file; never a file outside the root', async () => {
    fake.reply = { kind: 'answer', content: GOOD_DIFF };
    await llmFixer(settings, { env: {} }).propose(input);
    assert.equal(fake.requests.length, 1);
    const [req] = fake.requests;
    assert.equal(req.url, '/v1/chat/completions');
    assert.equal(req.body.model, 'fake-coder');
    assert.equal(req.body.temperature, 0);
    assert.equal(req.headers.authorization, undefined, 'no key, no Authorization header');
    const user = req.body.messages.find((m: { role: string }) => m.role === 'user').content as string;
    assert.match(user, /not_ready on kernel coding_agent/);
    assert.match(user, /self-test failed: add\(1, 2\) returned -1/);
    assert.match(user, /self-test add failed/);
    assert.match(user, /File src\/math\.ts:\n```\n[\s\S]*return a - b;/);
    assert.doesNotMatch(user, /root:/, 'a path outside the root is never read');
  });

  it('carries the Bearer key read from the environment variable named in the config', async () => {
    fake.reply = { kind: 'answer', content: GOOD_DIFF };
    await llmFixer({ ...settings, apiKeyEnv: 'MY_LLM_KEY' }, { env: { MY_LLM_KEY: 'sk-test-123', LAYER1_LLM_API_KEY: 'other' } }).propose(input);
    assert.equal(fake.requests[0].headers.authorization, 'Bearer sk-test-123');
  });

  it('refuses a diff that does not apply to the current file (does_not_apply), with no change set', async () => {
    fake.reply = { kind: 'answer', content: `\`\`\`diff\n${STALE_DIFF}\`\`\`` };
    const err = await rejection(llmFixer(settings, { env: {} }).propose(input));
    assert.equal(err.reason, 'does_not_apply');
    assert.match(err.message, /src\/math\.ts does not apply/);
    assert.throws(() => applyUnifiedDiff(ORIGINAL, STALE_DIFF), (e: unknown) => e instanceof LlmFixError && e.reason === 'does_not_apply');
  });

  it('gives up on an endpoint that never answers (timeout), within timeoutMs and a little', async () => {
    fake.reply = { kind: 'hang' };
    const started = Date.now();
    const err = await rejection(llmFixer(settings, { env: {} }).propose(input));
    const took = Date.now() - started;
    assert.equal(err.reason, 'timeout');
    assert.ok(took >= 350 && took < 400 + 1500, `took ${took} ms`);
    assert.equal(fake.requests.length, 1);
  });

  it('refuses an unsafe path in the diff (unsafe_path)', async () => {
    fake.reply = { kind: 'answer', content: `\`\`\`diff\n${UNSAFE_DIFF}\`\`\`` };
    const err = await rejection(llmFixer(settings, { env: {} }).propose(input));
    assert.equal(err.reason, 'unsafe_path');
  });

  it('refuses a diff through a symlink that leaves the root (unsafe_path)', async () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'layer1-llm-outside-'));
    try {
      writeFileSync(path.join(outside, 'math.ts'), ORIGINAL);
      symlinkSync(outside, path.join(root, 'linked'));
      fake.reply = { kind: 'answer', content: GOOD_DIFF.replaceAll('src/math.ts', 'linked/math.ts') };
      const err = await rejection(llmFixer(settings, { env: {} }).propose(input));
      assert.equal(err.reason, 'unsafe_path');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('says no_diff for an answer without a diff, and http for an error status', async () => {
    fake.reply = { kind: 'answer', content: 'I cannot tell what is wrong.' };
    assert.equal((await rejection(llmFixer(settings, { env: {} }).propose(input))).reason, 'no_diff');
    fake.reply = { kind: 'status', status: 500 };
    const err = await rejection(llmFixer(settings, { env: {} }).propose(input));
    assert.equal(err.reason, 'http');
    assert.match(err.message, /500/);
  });

  it('proposes a new file (--- /dev/null) and refuses one that exists or a malformed hunk', async () => {
    const create = (name: string) => `--- /dev/null\n+++ b/${name}\n@@ -0,0 +1,1 @@\n+export const two = 2;\n`;
    fake.reply = { kind: 'answer', content: create('src/two.ts') };
    const cs = await llmFixer(settings, { env: {} }).propose(input);
    assert.equal(cs?.files[0].path, 'src/two.ts');
    assert.equal(applyUnifiedDiff('', cs!.files[0].diff!), 'export const two = 2;\n');
    fake.reply = { kind: 'answer', content: create('src/math.ts') };
    assert.equal((await rejection(llmFixer(settings, { env: {} }).propose(input))).reason, 'does_not_apply');
    fake.reply = { kind: 'answer', content: '--- a/src/math.ts\n+++ b/src/math.ts\n@@ -1,2 +1,2 @@\n-  return a - b;\n+  return a + b;\n' };
    assert.equal((await rejection(llmFixer(settings, { env: {} }).propose(input))).reason, 'does_not_apply');
  });

  it('extracts a diff from a fenced block or a bare answer', () => {
    assert.equal(extractDiff(`Here:\n\`\`\`diff\n${GOOD_DIFF}\`\`\`\nDone.`), GOOD_DIFF);
    assert.equal(extractDiff(`Here:\n\`\`\`\n${GOOD_DIFF}\`\`\``), GOOD_DIFF);
    assert.equal(extractDiff(`Explanation first.\n${GOOD_DIFF}`), GOOD_DIFF);
    assert.equal(extractDiff('no diff at all'), null);
  });
});
