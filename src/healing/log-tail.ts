/**
 * The last lines of a process's log: what a process that died said last, for its `exited`
 * evidence (its text, which the evidence signature is computed from). Bounded both ways, so a
 * process that wrote megabytes before dying costs one small read.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Lines kept from the end of a log. */
export const TAIL_LINES = 5;
/** Bytes read from the end of a log at most. */
export const TAIL_BYTES = 2048;

/**
 * The non-empty lines (trailing blanks trimmed) within the last `maxBytes` of `file`, in one bounded
 * read however large the file; [] when it cannot be read. A line cut by the byte bound is left out.
 */
export function tailLines(file: string, maxBytes = TAIL_BYTES): string[] {
  let text: string;
  let cut: boolean;
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const from = Math.max(0, size - maxBytes);
      const buf = Buffer.alloc(size - from);
      const n = readSync(fd, buf, 0, buf.length, from);
      text = buf.subarray(0, n).toString('utf8');
      cut = from > 0;
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  const lines = text.split('\n');
  if (cut) lines.shift();
  return lines.map((l) => l.trimEnd()).filter((l) => l.length > 0);
}

/** The last `maxLines` non-empty lines within the last `maxBytes` of `file`, joined by newlines; '' when none. */
export function lastLogLines(file: string, maxLines = TAIL_LINES, maxBytes = TAIL_BYTES): string {
  return tailLines(file, maxBytes).slice(-maxLines).join('\n');
}

/**
 * Lines of a log that say something went wrong: an error or exception, a stack frame, pino's error
 * and fatal levels. What a process logged while it was well (requests served, a timer) is left out.
 */
const ERROR_LINE = /error|exception|fatal|panic|uncaught|cannot|failed|^\s+at |"level":(50|60)/i;

/**
 * The text of a process's exit: what exited, then the error lines among the last lines of its log.
 * Only error lines: a process killed while well leaves ordinary lines that differ from one death to
 * the next, and they would give every such death a signature of its own; a crash leaves its
 * exception, which names the cause and so belongs in the signature.
 */
export function exitText(kernel: string, process: string, tail: string): string {
  const head = `${process} of ${kernel} exited without being stopped`;
  const errors = tail
    .split('\n')
    .filter((l) => ERROR_LINE.test(l))
    .join('\n');
  return errors ? `${head}; its log ends:\n${errors}` : head;
}
