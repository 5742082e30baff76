/**
 * The archive drain_queue and purge_queue write before they ack or purge: JSON lines, one message a
 * line, fsynced, keyed by stream sequence so a retry never writes a message twice.
 */
import { mkdir, open, readFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import type { JsMsg } from '@nats-io/jetstream';
import { fsyncPath, snapshotIdOf } from '../../src/snapshots/store';

/** One archived message, a JSON line. */
interface ArchivedMessage {
  stream: string;
  consumer: string | null;
  seq: number;
  subject: string;
  time: string;
  headers: Record<string, string[]>;
  /** UTF-8 text, or base64 when the payload is not valid UTF-8. */
  data: string;
  encoding: 'utf8' | 'base64';
}

/**
 * Opens (creating it) an archive of JSON lines and returns the stream sequences it holds. A line
 * torn by a crash mid-write is cut off: its message was never acked or purged, so it comes again.
 */
export async function openArchive(file: string): Promise<Set<number>> {
  await mkdir(path.dirname(file), { recursive: true });
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const complete = text.lastIndexOf('\n') + 1;
  if (complete < text.length) await truncate(file, Buffer.byteLength(text.slice(0, complete)));
  const seqs = new Set<number>();
  for (const line of text.slice(0, complete).split('\n')) if (line) seqs.add((JSON.parse(line) as ArchivedMessage).seq);
  return seqs;
}

/** Appends the messages not yet archived and fsyncs before returning: only then may they be acked or purged. */
export async function appendArchive(file: string, archived: Set<number>, msgs: JsMsg[], consumer: string | null): Promise<void> {
  const fresh = msgs.filter((m) => !archived.has(m.seq));
  const fh = await open(file, 'a');
  try {
    if (fresh.length > 0) await fh.write(fresh.map((m) => JSON.stringify(archiveLine(m, consumer)) + '\n').join(''));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncPath(path.dirname(file));
  for (const m of fresh) archived.add(m.seq);
}

function archiveLine(m: JsMsg, consumer: string | null): ArchivedMessage {
  const text = Buffer.from(m.data).toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(Buffer.from(m.data));
  const headers: Record<string, string[]> = {};
  for (const [k, v] of m.headers ?? []) headers[k] = v;
  return {
    stream: m.info.stream,
    consumer,
    seq: m.seq,
    subject: m.subject,
    time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(),
    headers,
    data: utf8 ? text : Buffer.from(m.data).toString('base64'),
    encoding: utf8 ? 'utf8' : 'base64',
  };
}

/** A key turned into a file name: readable, and unique by a hash suffix. */
export function fileSafe(key: string): string {
  return `${key.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 80)}-${snapshotIdOf(key).slice(5, 17)}`;
}
