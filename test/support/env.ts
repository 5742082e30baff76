/**
 * Where the suite's shared stack is: one stack for every test file (the machine has 2 cores),
 * started by global-stack.ts from test/layer1.test.yaml, or from the file LAYER1_TEST_CONFIG names
 * (a copy with other ports and state dir, so two checkouts can run integration tests at once).
 */
import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../../src/config/load';
import { REPO_ROOT } from '../../src/stack/tools';

export const TEST_CONFIG_FILE = process.env.LAYER1_TEST_CONFIG
  ? path.resolve(process.env.LAYER1_TEST_CONFIG)
  : path.join(REPO_ROOT, 'test', 'layer1.test.yaml');

/** The suite's config. Environment overrides are ignored so a user's MONGODB_URI cannot leak in. */
export function testConfig(): LoadedConfig {
  return loadConfig(TEST_CONFIG_FILE, {});
}

/** True when the global fixture started the stack (LAYER1_TEST_STACK=off runs unit tests only). */
export function stackAvailable(): boolean {
  return process.env.LAYER1_TEST_STACK_UP === '1';
}

/** Unique ids per test, so tests never see each other's workflows or documents. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
