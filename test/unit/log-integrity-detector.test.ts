import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImmutableLog, createLogServer } from '../../kernels/immutable-log';
import { parseConfig, type LoadedConfig } from '../../src/config/load';
import { logIntegrity } from '../../src/healing/detectors/immutable-log';
import type { DetectorContext } from '../../src/healing/detectors/types';

/**
 * The log_integrity detector against a real log server (its own temp directory, port 0): the
 * incremental verify it now runs still reports damage in an old sealed segment, within the sweep's
 * bound, with the evidence the repair playbook takes.
 */
describe('log_integrity detector (incremental verify)', function () {
  this.timeout(30_000);
  let stateDir: string;
  let log: ImmutableLog;
  let server: ReturnType<typeof createLogServer>;
  let config: LoadedConfig;

  before(async () => {
    stateDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'log-integrity-detector-'));
    log = await ImmutableLog.open({ dir: path.join(stateDir, 'log'), segmentBytes: 2048 });
    for (let i = 0; i < 150; i++) await log.append('test.event', { i, msg: `payload-${i}` });
    server = createLogServer(log);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = parseConfig('', path.join(stateDir, 'temporal.config.yaml'), {});
    config = {
      ...base,
      stateDir,
      kernels: { ...base.kernels, immutable_log: { ...base.kernels.immutable_log, port: (server.address() as AddressInfo).port } },
    } as LoadedConfig;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await log.close();
    await fsp.rm(stateDir, { recursive: true, force: true });
  });

  it('reports a flipped byte in the oldest sealed segment within ceil(sealed / sweepSegmentsPerRound) rounds, as before', async () => {
    const ctx = { config } as unknown as DetectorContext;
    const settings = { everyMs: 10_000, sweepSegmentsPerRound: 3 };
    assert.deepEqual(await logIntegrity.check(ctx, settings, undefined), [], 'first round: verifies everything once');
    assert.deepEqual(await logIntegrity.check(ctx, settings, undefined), [], 'moves the sweep past the oldest segment');

    const manifest = JSON.parse(await fsp.readFile(path.join(stateDir, 'log', 'manifest.json'), 'utf8')) as { segments: Array<{ name: string; firstSeq: number }> };
    const sealed = manifest.segments.length;
    assert.ok(sealed >= 10, `${sealed} sealed segments`);
    const oldest = manifest.segments[0]!;
    const file = path.join(stateDir, 'log', 'segments', oldest.name);
    const text = await fsp.readFile(file, 'utf8');
    const at = text.indexOf('payload-', text.indexOf('\n') + 1);
    await fsp.chmod(file, 0o644);
    await fsp.writeFile(file, text.slice(0, at) + 'q' + text.slice(at + 1));

    const bound = Math.ceil(sealed / settings.sweepSegmentsPerRound);
    let rounds = 0;
    let findings: Awaited<ReturnType<typeof logIntegrity.check>> = [];
    while (findings.length === 0 && rounds < bound + 1) {
      findings = await logIntegrity.check(ctx, settings, undefined);
      rounds++;
    }
    assert.ok(rounds <= bound, `found in ${rounds} rounds, bound ${bound}`);
    assert.equal(findings.length, 1);
    const f = findings[0]!;
    assert.equal(f.kind, 'log_corruption');
    assert.equal(f.kernel, 'immutable_log');
    assert.deepEqual(f.data, { seq: oldest.firstSeq + 1, reason: 'hash_mismatch', segment: `log/segments/${oldest.name}`, archived: false });
    assert.match(f.key, new RegExp(`^${oldest.name}:${oldest.firstSeq + 1}:\\d+$`));
    // Still reported on the next round: the sweep stays on the damage until it is repaired.
    assert.equal((await logIntegrity.check(ctx, settings, undefined))[0]?.key, f.key);
    await fsp.writeFile(file, text);
    assert.deepEqual(await logIntegrity.check(ctx, settings, undefined), [], 'repaired: clean again');
  });
});
