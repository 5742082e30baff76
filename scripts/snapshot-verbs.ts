/**
 * `layer1 snapshots [list]` — every snapshot, newest first: its type (label), id, time, whether it
 * is its type's latest, files, bytes and whether every copy still matches its manifest.
 * `layer1 snapshots take [--type T]…` — one snapshot of each configured type now, then the
 * retention, as the hourly schedule does. `layer1 snapshots restore ID [--file PATH]` — every file
 * of a snapshot (or one) put back after its checksum is verified, each only inside its root.
 * These work on the state directory's files: no server is needed.
 */
import { type Command, Option } from 'commander';
import { ExitCode, UserError } from '../src/errors';
import type { LoadedConfig } from '../src/config/load';
import type { RestoreResult } from '../src/snapshots/store';
import { SNAPSHOT_TYPES, type SnapshotType } from '../src/snapshots/type-names';
import { configOf, progress } from './cli-support';

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

async function list(cmd: Command): Promise<void> {
  const opts = cmd.optsWithGlobals<{ json?: boolean; type?: string }>();
  const config = await configOf(cmd);
  const { listSnapshots } = await import('../src/snapshots/typed');
  const all = (await listSnapshots(config)).filter((s) => !opts.type || s.type === opts.type);
  if (opts.json) {
    console.log(JSON.stringify(all));
    return;
  }
  if (all.length === 0) console.log('no snapshot yet: `layer1 snapshots take` takes one of each type');
  for (const s of all) {
    console.log(
      `${s.manifestOk ? '✓' : '✗'} ${s.type.padEnd(14)} ${s.id.padEnd(44)} ${s.takenAt}  ${String(s.files).padStart(4)} files ${kb(s.bytes).padStart(11)}${s.latest ? '  latest' : ''}`,
    );
    for (const p of s.problems) console.log(`    ${p}`);
  }
}

/** Restoring the rendered bus config changes nothing until the bus loads it. */
async function reloadBusIfRestored(config: LoadedConfig, restored: RestoreResult[]): Promise<string | null> {
  if (!config.bus.embedded) return null; // an external cluster loads what its operator installs
  const [{ busPaths }, path] = await Promise.all([import('../kernels/message-bus/render'), import('node:path')]);
  const conf = path.relative(config.stateDir, busPaths(config).confFile);
  if (!restored.some((r) => r.restored && r.path === conf)) return null;
  const [{ reloadBus }, { processManager }] = await Promise.all([import('../kernels/message-bus/readiness'), import('../src/stack/stack')]);
  const { configLoadTime } = await reloadBus(config, { render: false, pm: processManager(config) });
  return configLoadTime;
}

export function registerSnapshotVerbs(program: Command): void {
  const snapshots = program
    .command('snapshots')
    .description('Snapshots of models, configs, playbooks and log segments: list (default), take, restore')
    // No --type here: the parent's option would take `take --type`'s values (commander reads a parent's options anywhere).
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, cmd: Command) => list(cmd));

  snapshots
    .command('list')
    .description('Every snapshot, newest first, each checked against its manifest')
    .option('--type <type>', 'only this type (label)')
    .option('--json', 'print a JSON array of {type, id, takenAt, latest, files, bytes, manifestOk, problems}')
    .action(async (_opts: unknown, cmd: Command) => list(cmd));

  snapshots
    .command('take')
    .description('Take one snapshot of each configured type now (marked latest), then remove those beyond the retention')
    .addOption(new Option('--type <type...>', 'only these types').choices([...SNAPSHOT_TYPES]))
    .option('--json', 'print {snapshots, pruned} as JSON')
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ type?: SnapshotType[]; json?: boolean }>();
      const config = await configOf(cmd);
      const { pruneTypedSnapshots, takeTypedSnapshots } = await import('../src/snapshots/typed');
      const types = opts.type ?? config.snapshots.types;
      const at = new Date().toISOString();
      const taken = await takeTypedSnapshots(config, { key: `cli:${at}:${process.pid}`, at, types });
      const pruned = await pruneTypedSnapshots(config, config.snapshots, { types, now: Date.now() });
      if (opts.json) console.log(JSON.stringify({ snapshots: taken, pruned }));
      else {
        for (const t of taken) {
          if (t.id) console.log(`✓ ${t.type.padEnd(14)} ${t.id}  ${t.files} files ${kb(t.bytes)}`);
          else console.log(`${t.error ? '✗' : '-'} ${t.type.padEnd(14)} ${t.error ?? t.skipped}`);
          for (const r of t.refused) console.log(`    refused ${r.path}: ${r.reason}`);
        }
        for (const p of pruned) progress(`removed ${p.type} ${p.id} (${p.reason === 'age' ? 'older than the retention' : 'beyond the count kept'})`);
      }
      if (taken.some((t) => t.error || t.refused.length > 0)) process.exitCode = ExitCode.FAILURE;
    });

  snapshots
    .command('restore <id>')
    .description("Put back every file of snapshot ID (or --file's), each checked against the manifest first and written only inside its root")
    .option('--file <path>', 'only this file (relative to the state directory)')
    .option('--json', 'print the restored files as JSON')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ file?: string; json?: boolean }>();
      const config = await configOf(cmd);
      const [{ typedSnapshotStore }, { SnapshotNotFoundError, ChecksumMismatchError }, { PathEscapeError }] = await Promise.all([
        import('../src/snapshots/types'),
        import('../src/snapshots/store'),
        import('../src/playbooks/paths'),
      ]);
      const store = typedSnapshotStore(config);
      let restored: RestoreResult[];
      try {
        restored = opts.file ? [await store.restore(opts.file, id)] : await store.restoreSnapshot(id);
      } catch (err) {
        if (err instanceof SnapshotNotFoundError) throw new UserError(`${err.message} (see layer1 snapshots list)`, ExitCode.USAGE);
        if (err instanceof PathEscapeError || err instanceof ChecksumMismatchError) throw new UserError(`restore refused, nothing written: ${err.message}`);
        throw err;
      }
      const busReloaded = await reloadBusIfRestored(config, restored);
      if (opts.json) console.log(JSON.stringify({ snapshot: id, files: restored, busReloaded }));
      else {
        for (const r of restored) console.log(`${r.restored ? 'restored ' : 'unchanged'} ${r.path}  sha256 ${r.sha256}`);
        if (busReloaded) console.log(`the bus loaded the restored config (${busReloaded})`);
      }
    });
}
