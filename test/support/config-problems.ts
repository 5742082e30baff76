/** The ConfigError a config text gets, for the unit tests of its validation. */
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load';

export function configProblemsOf(text: string, file: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(text, file, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('expected a ConfigError');
}
