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
  const lines = tail.split('\n').filter((l) => l.trim().length > 0);
  // Node's report of an uncaught error is longer than the tail's few lines (stack frames, the
  // error's own fields, the version): its head — where, what, who required it — is what names the
  // cause, and the coding agent's fixers read the file and line from it.
  const report = crashReport(lines);
  const errors = report ?? lines.slice(-TAIL_LINES).filter((l) => ERROR_LINE.test(l));
  return errors.length > 0 ? `${head}; its log ends:\n${errors.join('\n')}` : head;
}

/** Bytes of a dead process's log read for its exit text: enough for Node's whole crash report. */
export const EXIT_TAIL_BYTES = 16 * 1024;

/** `SyntaxError: …`, `Error: Cannot find module …`, `Error [ERR_MODULE_NOT_FOUND]: …`, `ConfigError: …`. */
const ERROR_HEAD = /^(?:[A-Z][A-Za-z]*)?(?:Error|Exception)(?: \[[A-Z0-9_]+\])?: \S/;
/** The `file:line` Node prints above the code excerpt of a SyntaxError (or of a throw's site). */
const LOCATION_LINE = /^(?:file:\/\/)?\/\S+:\d+$/;
/** How far from the end of the log a report is looked for: Node's report is about 30 lines. */
const REPORT_WITHIN_LINES = 60;
/** Continuation lines of a multi-line message kept at most (a config error's problems). */
const MESSAGE_LINES = 6;

/**
 * The head of the last uncaught-error report Node printed among `lines`: the `file:line` above it
 * (when printed), the error line, its message's continuation lines (up to the first stack frame),
 * and the first module of a `Require stack:`. Null when the lines hold no such report.
 */
export function crashReport(lines: readonly string[]): string[] | null {
  let at = -1;
  for (let i = lines.length - 1; i >= Math.max(0, lines.length - REPORT_WITHIN_LINES); i--) {
    // A structured log line after it: the process ran on (a report from an earlier death).
    if (lines[i]!.startsWith('{"level":')) return null;
    if (ERROR_HEAD.test(lines[i]!)) {
      at = i;
      break;
    }
  }
  if (at < 0) return null;
  const out: string[] = [];
  for (let j = Math.max(0, at - 3); j < at; j++) if (LOCATION_LINE.test(lines[j]!.trim())) out.push(lines[j]!.trim());
  out.push(lines[at]!);
  for (let j = at + 1; j < lines.length && j <= at + MESSAGE_LINES; j++) {
    const l = lines[j]!;
    if (/^\s+at /.test(l) || l.startsWith('Node.js v') || /^\s*[{}]/.test(l)) break;
    if (l === 'Require stack:') {
      if (lines[j + 1]?.startsWith('- ')) out.push(l, lines[j + 1]!);
      break;
    }
    out.push(l);
  }
  // No `file:line` above it: the first frame outside Node's internals says where instead.
  if (out.length > 0 && !LOCATION_LINE.test(out[0]!)) {
    const frame = lines.slice(at + 1, at + 1 + REPORT_WITHIN_LINES).find((l) => /^\s+at /.test(l) && !/\(node:|at node:/.test(l));
    if (frame) out.push(frame);
  }
  return out;
}
