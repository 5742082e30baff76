/**
 * `layer1 signatures parse`: messages in, one signature a line out.
 *
 *   some-service 2>&1 | layer1 signatures parse --source message_bus
 *
 * stdin is read as raw bytes: any text works, including empty lines, very long lines and bytes
 * that are not UTF-8 (they become U+FFFD before masking). Output is one JSON object a line,
 * `{"signature": "...", "template": "..."}`, in input order, written as each line is read.
 */
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../src/config/load';
import { ExitCode, UserError } from '../src/errors';
import { SignatureEngine, SignatureStore } from '../src/signatures';

/** Bytes of one line kept for signing; the rest of a longer line is skipped, so memory stays bounded. */
export const MAX_LINE_BYTES = 1 << 20;
/** With `--store`, learned templates are saved after this many lines, and at the end. */
const SAVE_EVERY_LINES = 50_000;
/** Output is written in blocks of about this size, honouring back-pressure. */
const OUTPUT_BLOCK = 64 * 1024;

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
  let out = '';
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

  const emitLine = async (bytes: Buffer): Promise<void> => {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--; // CRLF input
    const message = decoder.decode(bytes.subarray(0, end));
    const { signature, template } = engine.sign({ message, kernel: options.source });
    out += `${JSON.stringify({ signature, template })}\n`;
    lines++;
    if (out.length >= OUTPUT_BLOCK) {
      const block = out;
      out = '';
      await write(block);
    }
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
  }
  if (pending.length > 0) await emitLine(Buffer.concat(pending)); // last line without a newline
  if (out) await write(out);
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
    .addHelpText(
      'after',
      `
Variable parts (numbers, ids, hex, addresses, paths, URLs, times, names after user=/host …) become <*>;
messages that differ only there share a template and a signature. Templates learn online: when one
generalises, it gets a new id and the ids already printed still name it (in the store, "ids").
Any bytes are accepted: empty lines, very long lines (the first ${MAX_LINE_BYTES / (1 << 20)} MiB count), invalid UTF-8.

Examples:
  tail -f app.log | layer1 signatures parse --source message_bus
  layer1 signatures parse --store < errors.txt`,
    )
    .action(async (opts: { source?: string; store?: boolean }) => {
      const engine = new SignatureEngine();
      if (!opts.store) {
        await parseStream(process.stdin, process.stdout, engine, { source: opts.source });
        return;
      }
      const config = loadConfig(program.opts<{ config?: string }>().config);
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
