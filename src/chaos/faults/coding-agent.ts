/** Coding-agent faults: a flipped byte in its model file. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MODEL_FILES, MODELS_DIR } from '../../coding-agent/models';
import { flipByte, jsonStringByteOffset, unflip, writeByte } from './bytes';
import { FaultError, type FaultContext, type Injected } from './types';

/**
 * Flips one byte of the coding agent's model file (`<stateDir>/models/fixers.json`), a letter
 * inside a JSON string in its middle: the file still parses, only its checksum against
 * models/manifest.json tells it is damaged.
 *
 * restore: flips the byte back if it is still the flipped value.
 */
export async function corruptModelFile(
  ctx: FaultContext,
): Promise<Injected<{ file: string; offset: number; original: number; flipped: number }>> {
  const rel = path.join(MODELS_DIR, MODEL_FILES[0]);
  const file = path.join(ctx.config.stateDir, rel);
  if (!existsSync(file)) throw new FaultError(`${file} does not exist: the coding agent has not written its models yet`);
  const buf = await readFile(file);
  const offset = jsonStringByteOffset(buf, 0, buf.length, Math.floor(buf.length / 2));
  if (offset === -1) throw new FaultError(`${file} holds no JSON string to flip a byte in`);
  const original = buf[offset];
  const flipped = flipByte(original);
  await ctx.journal?.({ kind: 'unflip', file, offset, original, flipped });
  await writeByte(file, offset, flipped);
  return {
    detail: `flipped byte ${offset} of ${rel}: 0x${original.toString(16)} → 0x${flipped.toString(16)}`,
    file: rel,
    offset,
    original,
    flipped,
    restore: unflip(file, offset, original),
  };
}
