/**
 * The on-disk format: entry encoding, the hash, line scanning and file naming. Pure functions, so
 * the log, the verifier, the bench and any outside tool compute exactly the same bytes.
 */
import { createHash } from 'node:crypto';
import { LogInvalidEntryError } from './errors';

/** A JSON value, as stored in an entry's `data`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One entry of the log, exactly as one line of a segment file holds it. */
export interface LogEntry {
  /** 1 for the first entry, then +1 per entry, never reused. */
  seq: number;
  /** ISO-8601 UTC time of the append. */
  ts: string;
  /** `hash` of the entry before, or {@link GENESIS_HASH} for seq 1. */
  prevHash: string;
  /** SHA-256 (hex) of {@link canonicalEncoding} of this entry. */
  hash: string;
  /** What happened, in the caller's words (`kernel.restart`, `probe`, ...). */
  kind: string;
  data: JsonValue;
}

/** The `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

export const SEGMENT_SUFFIX = '.seg';
export const ARCHIVE_SUFFIX = '.seg.gz';
export const INDEX_SUFFIX = '.idx';
/** Bytes per index record: one little-endian uint64 byte offset per entry. */
export const INDEX_RECORD_BYTES = 8;

const HEX64 = /^[0-9a-f]{64}$/;
const SEGMENT_NAME = /^(\d{16})\.seg$/;

/**
 * JSON with object keys sorted (UTF-16 code-unit order) at every depth and no whitespace. Numbers
 * and strings use ECMAScript's JSON.stringify, which is deterministic, so a value parsed back from a
 * line re-encodes to the same text.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as JsonValue)}`).join(',')}}`;
}

/**
 * Turns what a caller passed into a JSON value: drops `undefined` properties, turns Dates into
 * strings, as JSON.stringify does. What is hashed is what a reader will get back.
 *
 * @throws LogInvalidEntryError for values JSON cannot hold (BigInt, cycles, a bare function)
 */
export function toJsonValue(data: unknown): JsonValue {
  let text: string | undefined;
  try {
    text = JSON.stringify(data === undefined ? null : data);
  } catch (err) {
    throw new LogInvalidEntryError('data', `not JSON-serialisable: ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw new LogInvalidEntryError('data', `a ${typeof data} is not JSON`);
  return JSON.parse(text) as JsonValue;
}

/**
 * The bytes the hash covers: the canonical JSON array `[seq, ts, prevHash, kind, data]`. Takes the
 * data already in canonical form so a batch encodes each payload once.
 */
export function canonicalEncoding(seq: number, ts: string, prevHash: string, kind: string, dataCanonical: string): string {
  return `[${seq},${JSON.stringify(ts)},${JSON.stringify(prevHash)},${JSON.stringify(kind)},${dataCanonical}]`;
}

export function sha256Hex(input: string | Buffer): string {
  return createHash('sha256').update(input).digest('hex');
}

/** The hash an entry must carry. */
export function entryHash(seq: number, ts: string, prevHash: string, kind: string, dataCanonical: string): string {
  return sha256Hex(canonicalEncoding(seq, ts, prevHash, kind, dataCanonical));
}

/** One segment line, newline included. Key order is fixed so equal entries give equal bytes. */
export function encodeLine(seq: number, ts: string, prevHash: string, hash: string, kind: string, dataCanonical: string): string {
  return `{"seq":${seq},"ts":${JSON.stringify(ts)},"prevHash":"${prevHash}","hash":"${hash}","kind":${JSON.stringify(kind)},"data":${dataCanonical}}\n`;
}

export type ParsedLine = { ok: true; entry: LogEntry } | { ok: false; problem: string };

/** Parses one line (without its newline) and checks its shape; does not check the hash. */
export function parseLine(line: string): ParsedLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    return { ok: false, problem: `not JSON: ${(err as Error).message}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, problem: 'not a JSON object' };
  const e = v as Record<string, unknown>;
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1) return { ok: false, problem: 'seq is not a positive integer' };
  if (typeof e.ts !== 'string') return { ok: false, problem: 'ts is not a string' };
  if (typeof e.prevHash !== 'string' || !HEX64.test(e.prevHash)) return { ok: false, problem: 'prevHash is not 64 hex digits' };
  if (typeof e.hash !== 'string' || !HEX64.test(e.hash)) return { ok: false, problem: 'hash is not 64 hex digits' };
  if (typeof e.kind !== 'string') return { ok: false, problem: 'kind is not a string' };
  if (!('data' in e)) return { ok: false, problem: 'data is missing' };
  return { ok: true, entry: e as unknown as LogEntry };
}

/** Recomputes an entry's hash from its fields. */
export function computeHash(entry: LogEntry): string {
  return entryHash(entry.seq, entry.ts, entry.prevHash, entry.kind, canonicalJson(entry.data));
}

/**
 * Start offsets of every newline-terminated line, and where the last one ends. Bytes after that are
 * a line whose write never completed.
 */
export function scanLines(buf: Buffer): { offsets: number[]; completeBytes: number } {
  const offsets: number[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl === -1) break;
    offsets.push(start);
    start = nl + 1;
  }
  return { offsets, completeBytes: start };
}

export function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

/** The first seq a segment file name encodes, or undefined for any other file. */
export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function indexName(segment: string): string {
  return segment.replace(SEGMENT_SUFFIX, INDEX_SUFFIX);
}

export function archiveName(segment: string): string {
  return segment.replace(SEGMENT_SUFFIX, ARCHIVE_SUFFIX);
}

/** Index file bytes for a list of line offsets. */
export function encodeIndex(offsets: readonly number[]): Buffer {
  const buf = Buffer.alloc(offsets.length * INDEX_RECORD_BYTES);
  offsets.forEach((o, i) => buf.writeBigUInt64LE(BigInt(o), i * INDEX_RECORD_BYTES));
  return buf;
}

export function decodeIndex(buf: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + INDEX_RECORD_BYTES <= buf.length; i += INDEX_RECORD_BYTES) out.push(Number(buf.readBigUInt64LE(i)));
  return out;
}
