/**
 * Byte flips: one byte of a file changed in place so that the text still parses and only a checksum
 * or hash finds the damage, as a real bit flip would be; and put back by restore().
 */
import { statSync } from 'node:fs';
import { chmod, open } from 'node:fs/promises';
import { canonicalJson, parseLine, scanLines } from '../../../kernels/immutable-log/format';

/** Flipping the lowest bit of an ASCII letter or digit gives a character a JSON string may hold as is. */
export function flipByte(b: number): number {
  return b ^ 0x01;
}

const isAlnum = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/**
 * Offset of an ASCII letter or digit inside a JSON string within `buf[start, end)` — the first one at
 * or after `from`, else the first one at all; -1 when there is none. `start` must be outside any
 * string. Flipping such a byte with {@link flipByte} leaves the text valid JSON with another value:
 * damage only a checksum or hash finds, as a real bit flip would be.
 */
export function jsonStringByteOffset(buf: Buffer, start = 0, end = buf.length, from = start): number {
  let inString = false;
  let first = -1;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (!inString) {
      if (b === 0x22) inString = true;
      continue;
    }
    if (b === 0x5c) {
      // An escape: \uXXXX's hex digits are letters and digits that must stay hex.
      i += buf[i + 1] === 0x75 ? 5 : 1;
    } else if (b === 0x22) {
      inString = false;
    } else if (isAlnum(b)) {
      if (i >= from) return i;
      if (first === -1) first = i;
    }
  }
  return first;
}

/**
 * Where to flip a byte of a segment so that exactly one entry's payload changes: a letter or digit
 * inside a string of some entry's `data`, starting with the middle entry. The line must be exactly
 * as format.ts encodes it (data last, canonical), which is how the offset of `data` is known.
 */
export function pickPayloadByte(segment: Buffer): { offset: number; seq: number } | null {
  const { offsets, completeBytes } = scanLines(segment);
  const ends = [...offsets.slice(1), completeBytes];
  const order = offsets.map((_, i) => (i + Math.floor(offsets.length / 2)) % offsets.length);
  for (const i of order) {
    const lineEnd = ends[i] - 1; // at the newline
    const parsed = parseLine(segment.subarray(offsets[i], lineEnd).toString('utf8'));
    if (!parsed.ok) continue;
    const data = Buffer.from(canonicalJson(parsed.entry.data));
    const dataStart = lineEnd - 1 - data.length; // the line ends with `<data>}`
    if (dataStart < offsets[i] || !segment.subarray(dataStart, dataStart + data.length).equals(data)) continue;
    const offset = jsonStringByteOffset(segment, dataStart, dataStart + data.length, dataStart + Math.floor(data.length / 2));
    if (offset !== -1) return { offset, seq: parsed.entry.seq };
  }
  return null;
}

/** Writes one byte in place, through a read-only mode if need be (sealed segments are 0444), keeping the mode. */
export async function writeByte(file: string, offset: number, value: number): Promise<void> {
  const mode = statSync(file).mode & 0o7777;
  if ((mode & 0o200) === 0) await chmod(file, mode | 0o200);
  try {
    const fh = await open(file, 'r+');
    try {
      await fh.write(Buffer.from([value]), 0, 1, offset);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  } finally {
    if ((mode & 0o200) === 0) await chmod(file, mode);
  }
}

export async function readByte(file: string, offset: number): Promise<number | null> {
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(1);
      const { bytesRead } = await fh.read(buf, 0, 1, offset);
      return bytesRead === 1 ? buf[0] : null;
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/** restore() of a flipped byte: puts the original back only while the flipped value is still there. */
export function unflip(file: string, offset: number, original: number): () => Promise<void> {
  return async () => {
    // A playbook that restored the file from a snapshot (or an archive that replaced it) already undid it.
    if ((await readByte(file, offset)) === flipByte(original)) await writeByte(file, offset, original);
  };
}
