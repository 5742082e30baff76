/**
 * The checks of a failure card beyond its shape: its fault's parameters, the evidence kinds and the
 * remedy it expects, and its blast radius (what it declares, and whether the injection stays
 * inside it). Each runs on the raw document, so a card with a shape problem still gets every other
 * problem reported; each reports through the loader's context, which knows lines and columns.
 */
import type { z } from 'zod';
import { EVIDENCE_KIND_NAMES } from '../../healing/evidence';
import { CODE_FAULT_PATTERNS } from '../../coding-agent/code-faults';
import { suggest } from '../../playbooks/format';
import { loadPlaybooks } from '../../playbooks/loader';
import { FAULTS, type FaultName } from '../faults/types';
import { covers, FAULT_REACH, isManagedProcess, parseRadiusFile, type RadiusFile } from './blast-radius';
import { FAULT_PARAMS, faultParamNames } from './fault-params';

export type Segment = string | number;

/** How a check reports: a problem at a path (at its key for unknown keys); whether one is there already. */
export interface CardCheckContext {
  add(segments: readonly Segment[], message: string, opts?: { key?: boolean }): void;
  has(segments: readonly Segment[]): boolean;
  /** Whether a problem is at `segments` or anywhere under it. */
  hasUnder(segments: readonly Segment[]): boolean;
  /** The playbooks a remedy may name (read once per load, not per card). */
  playbooks: readonly string[];
}

/** The fixers a code fault reaches before any playbook: what `fix:<fixer>` may name. */
export const FIX_REMEDIES = Object.keys(CODE_FAULT_PATTERNS);

/** The valid playbooks' names under `playbooks/`: what a remedy without `fix:` may name. */
export function playbookNames(): string[] {
  return loadPlaybooks().playbooks.map((p) => p.name);
}

import { isObject } from '../../config/yaml-files';
const isFault = (v: unknown): v is FaultName => typeof v === 'string' && Object.hasOwn(FAULTS, v);

export function checkCard(ctx: CardCheckContext, raw: Record<string, any>): void {
  const params = checkParams(ctx, raw.injection);
  checkExpect(ctx, raw.expect);
  const radius = checkRadius(ctx, raw.blastRadius, raw.target, raw);
  // A radius with a problem of its shape (an unknown key) says nothing reliable about reach.
  if (params && radius && isObject(raw.injection) && !ctx.hasUnder(['blastRadius'])) checkReach(ctx, raw.injection.fault as FaultName, params, radius);
}

/** The injection's params against its fault's schema; the params when they are valid. */
function checkParams(ctx: CardCheckContext, injection: unknown): Record<string, unknown> | null {
  if (!isObject(injection) || !isFault(injection.fault)) return null;
  const fault = injection.fault;
  const params: unknown = injection.params ?? {};
  if (!isObject(params)) return null;
  const at = ['injection', 'params'];
  const names = faultParamNames(fault);
  const result = FAULT_PARAMS[fault].safeParse(params);
  if (result.success) return result.data as Record<string, unknown>;
  for (const issue of result.error.issues as z.core.$ZodIssue[]) {
    const inner = issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s));
    if (issue.code === 'unrecognized_keys') {
      const takes = names.length ? `it takes: ${names.join(', ')}` : 'it takes none';
      for (const key of issue.keys) ctx.add([...at, key], `unknown parameter "${key}" for fault ${fault}${suggest(key, names)}; ${takes}`, { key: true });
    } else if (inner.length === 1 && !(String(inner[0]) in params)) {
      ctx.add(injection.params === undefined ? ['injection', 'fault'] : at, `missing required parameter "${String(inner[0])}" for fault ${fault}`);
    } else {
      ctx.add([...at, ...inner], `parameter "${String(inner[0])}" of ${fault}: ${issue.message.replace(/^Invalid (input|option): /, '')}`);
    }
  }
  return null;
}

function checkExpect(ctx: CardCheckContext, expect: unknown): void {
  if (!isObject(expect)) return;
  if (Array.isArray(expect.evidence)) {
    expect.evidence.forEach((kind: unknown, i: number) => {
      if (typeof kind !== 'string' || (EVIDENCE_KIND_NAMES as string[]).includes(kind)) return;
      ctx.add(['expect', 'evidence', i], `unknown evidence kind "${kind}"${suggest(kind, EVIDENCE_KIND_NAMES)}; known: ${EVIDENCE_KIND_NAMES.join(', ')}`);
    });
  }
  const remedy = expect.remedy;
  if (typeof remedy !== 'string' || ctx.has(['expect', 'remedy'])) return;
  if (remedy.startsWith('fix:')) {
    const fixer = remedy.slice(4);
    if (!FIX_REMEDIES.includes(fixer)) ctx.add(['expect', 'remedy'], `unknown fixer "${fixer}"${suggest(fixer, FIX_REMEDIES)}; a code fault reaches: ${FIX_REMEDIES.map((f) => `fix:${f}`).join(', ')}`);
    return;
  }
  const known = ctx.playbooks;
  if (!known.includes(remedy)) ctx.add(['expect', 'remedy'], `no playbook named "${remedy}"${suggest(remedy, known)} in playbooks/; known: ${known.join(', ')}`);
}

/**
 * The declared blast radius, parsed; `null` when it has a problem (then reach is not checked).
 * The target's and the probes' processes must be managed ones too.
 */
function checkRadius(
  ctx: CardCheckContext,
  radius: unknown,
  target: unknown,
  probes: { steadyState?: unknown; recovered?: unknown },
): { files: RadiusFile[]; processes: string[] } | null {
  let ok = true;
  /** False when `name` is a string but no managed process. */
  const managed = (name: unknown, at: Segment[]): boolean => {
    if (typeof name !== 'string' || ctx.has(at) || isManagedProcess(name)) return true;
    ctx.add(at, `"${name}" is not a managed process: a kernel's process (bus, immutable-log, healing-<n>, coding-agent-<n>, and their .standby spares), a stack server (temporal, store), metrics, or runaway-cpu/runaway-memory`);
    return false;
  };
  if (isObject(target)) managed(target.process, ['target', 'process']);
  for (const list of ['steadyState', 'recovered'] as const) {
    const given = probes[list];
    if (!Array.isArray(given)) continue;
    given.forEach((p: unknown, i: number) => {
      if (isObject(p)) managed(p.process, [list, i, 'process']);
    });
  }
  if (!isObject(radius)) return null;
  const files: RadiusFile[] = [];
  const declared = Array.isArray(radius.files) ? radius.files : [];
  declared.forEach((entry: unknown, i: number) => {
    if (typeof entry !== 'string') {
      ok = false;
      return;
    }
    const parsed = parseRadiusFile(entry);
    if ('problem' in parsed) {
      if (!ctx.has(['blastRadius', 'files', i])) ctx.add(['blastRadius', 'files', i], parsed.problem);
      ok = false;
    } else files.push(parsed);
  });
  const processes = Array.isArray(radius.processes) ? radius.processes : [];
  processes.forEach((name: unknown, i: number) => {
    if (!managed(name, ['blastRadius', 'processes', i])) ok = false;
  });
  return ok && processes.every((p: unknown) => typeof p === 'string') ? { files, processes } : null;
}

/** Everything the injection touches must be inside the declared radius. */
function checkReach(ctx: CardCheckContext, fault: FaultName, params: Record<string, unknown>, radius: { files: RadiusFile[]; processes: string[] }): void {
  const reach = FAULT_REACH[fault](params);
  const where = (param: string | null): Segment[] => (param === null ? ['injection', 'fault'] : ['injection', 'params', param]);
  for (const { entry, param } of reach.files) {
    const needed = parseRadiusFile(entry);
    if ('problem' in needed) {
      ctx.add(where(param), `${fault} would touch ${entry}: ${needed.problem}`);
      continue;
    }
    if (!radius.files.some((d) => covers(d, needed))) {
      ctx.add(where(param), `${fault} touches ${entry}, outside the blast radius: declare it (or a folder above it) in blastRadius.files`);
    }
  }
  for (const { name, param } of reach.processes) {
    if (!radius.processes.includes(name)) {
      ctx.add(where(param), `${fault} touches process ${name}, outside the blast radius: declare it in blastRadius.processes`);
    }
  }
}
