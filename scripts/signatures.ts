/**
 * `layer1 signatures parse`: messages in, one signature a line out.
 *
 *   some-service 2>&1 | layer1 signatures parse --source message_bus
 *
 * stdin is read as raw bytes: any text works, including empty lines, very long lines and bytes
 * that are not UTF-8 (they become U+FFFD before masking). Output is one JSON object a line,
 * `{"signature": "...", "template": "..."}`, in input order. Lines are printed in batches — at the
 * end of input, every {@link HOLD_LINES} lines, and whenever input pauses for {@link IDLE_MS} — each
 * with the id its template has *then*: a template that generalised while the batch was read gives
 * every line of the batch its final id, not the id it had when the line arrived.
 */
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { ExitCode, UserError } from '../src/errors';
import type { SignatureEngine } from '../src/signatures';
import { configOf } from './cli-support';

/** Bytes of one line kept for signing; the rest of a longer line is skipped, so memory stays bounded. */
export const MAX_LINE_BYTES = 1 << 20;
/** With `--store`, learned templates are saved after this many lines, and at the end. */
const SAVE_EVERY_LINES = 50_000;
/** Output is written in blocks of about this size, honouring back-pressure. */
const OUTPUT_BLOCK = 64 * 1024;
/** Most lines held before printing: one id reference each, so memory stays bounded. */
export const HOLD_LINES = 1_000_000;
/** A pause of the input this long prints what was held, so a live stream (`tail -f`) keeps flowing. */
export const IDLE_MS = 100;

export interface ParseOptions {
  /** Kernel or log source: the id's prefix, and a separate set of templates. Default none. */
  source?: string;
  /** Called every {@link SAVE_EVERY_LINES} lines and before returning (the store's save). */
  checkpoint?: () => Promise<void>;
}

/**
 * Signs every line of `input` with `engine` and writes one JSON object a line to `output`.
 * @returns the number of lines read
 */
export async function parseStream(
  input: Readable,
  output: Writable,
  engine: SignatureEngine,
  options: ParseOptions = {},
): Promise<number> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lines = 0;

  const write = async (text: string): Promise<void> => {
    if (output.write(text)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        output.off('drain', done);
        output.off('error', done);
        if (err) reject(err);
        else resolve();
      };
      output.once('drain', done);
      output.once('error', done);
    });
  };

  /** Ids issued for the lines read and not printed yet, in input order. */
  let held: string[] = [];
  /** Prints the held lines with their templates' ids as of now. */
  const print = async (): Promise<void> => {
    const ids = held;
    held = [];
    let out = '';
    for (const id of ids) {
      // Every id the engine issued resolves; the fallback only guards the types.
      const { signature, template } = engine.resolve(id) ?? { signature: id, template: '' };
      out += `${JSON.stringify({ signature, template })}\n`;
      if (out.length >= OUTPUT_BLOCK) {
        await write(out);
        out = '';
      }
    }
    if (out) await write(out);
  };
  /** Prints run one after the other, so output keeps input order. */
  let printing: Promise<void> = Promise.resolve();
  const schedulePrint = (): Promise<void> => {
    printing = printing.then(print);
    printing.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
    return printing;
  };
  let idle: NodeJS.Timeout | undefined;

  const emitLine = async (bytes: Buffer): Promise<void> => {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--; // CRLF input
    const message = decoder.decode(bytes.subarray(0, end));
    held.push(engine.sign({ message, kernel: options.source }).signature);
    lines++;
    if (held.length >= HOLD_LINES) await schedulePrint();
    if (options.checkpoint && lines % SAVE_EVERY_LINES === 0) await options.checkpoint();
  };

  /** Keeps at most MAX_LINE_BYTES of the current line. */
  const keep = (piece: Buffer): void => {
    const room = MAX_LINE_BYTES - pendingBytes;
    if (room <= 0) return;
    const kept = piece.length > room ? piece.subarray(0, room) : piece;
    pending.push(kept);
    pendingBytes += kept.length;
  };

  for await (const chunk of input) {
    clearTimeout(idle);
    await printing;
    const buffer: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    let start = 0;
    for (let nl = buffer.indexOf(0x0a, start); nl !== -1; nl = buffer.indexOf(0x0a, start)) {
      keep(buffer.subarray(start, nl));
      await emitLine(pending.length === 1 ? pending[0] : Buffer.concat(pending));
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
    }
    // Copy: the stream may reuse its buffer for the next chunk.
    if (start < buffer.length) keep(Buffer.from(buffer.subarray(start)));
    if (held.length > 0) idle = setTimeout(() => void schedulePrint(), IDLE_MS);
  }
  clearTimeout(idle);
  if (pending.length > 0) await emitLine(Buffer.concat(pending)); // last line without a newline
  await schedulePrint();
  if (options.checkpoint) await options.checkpoint();
  return lines;
}

/** Adds `layer1 signatures …` to the CLI. */
export function registerSignatureVerbs(program: Command): void {
  const signatures = program
    .command('signatures')
    .description('Error signatures: group messages into templates with stable, readable ids');

  signatures
    .command('parse')
    .description('Read messages, one a line, on stdin; write {"signature","template"} JSON, one a line, on stdout')
    .option('--source <name>', 'kernel or log source: prefixes the ids (<source>_<hash>) and keeps its templates apart (default: none, the id is the template hash alone)')
    .option('--store', 'load and save learned templates in the configured store (store.uri, store.database), so ids stay stable across runs (default: in memory, no server needed)')
    // A function: the number formatting loads ICU (about 25 ms), which only this help page needs.
    .addHelpText(
      'after',
      () => `
Variable parts (numbers, ids, hex, addresses, paths, URLs, times, and words that vary: host, user and
program names, learned from how they vary) become <*>; messages that differ only there share a template
and a signature. Templates learn online: lines are printed in batches (at the end of input, every
${HOLD_LINES.toLocaleString('en-US')} lines, or when input pauses for ${IDLE_MS} ms), each with the id its template has then.
When a template generalises later, it gets a new id and the ids already printed still name it (in the
store, "ids").
Any bytes are accepted: empty lines, very long lines (the first ${MAX_LINE_BYTES / (1 << 20)} MiB count), invalid UTF-8.

Examples:
  tail -f app.log | layer1 signatures parse --source message_bus
  layer1 signatures parse --store < errors.txt`,
    )
    .action(async (opts: { source?: string; store?: boolean }, cmd: Command) => {
      const { SignatureEngine, SignatureStore } = await import('../src/signatures');
      const engine = new SignatureEngine();
      if (!opts.store) {
        await parseStream(process.stdin, process.stdout, engine, { source: opts.source });
        return;
      }
      const config = await configOf(cmd);
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(config.store.uri, { serverSelectionTimeoutMS: 5_000 });
      try {
        try {
          await client.connect();
        } catch (err) {
          throw new UserError(`cannot reach the store at ${config.store.uri}: is it running?`, ExitCode.PREREQUISITE, { cause: err });
        }
        const store = new SignatureStore(client.db(config.store.database));
        await store.load(engine);
        await parseStream(process.stdin, process.stdout, engine, {
          source: opts.source,
          checkpoint: async () => {
            await store.save(engine);
          },
        });
      } finally {
        await client.close();
      }
    });
}
