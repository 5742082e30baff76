/**
 * Headless Chromium for the browser tests: Debian's `chromium` package (/usr/bin/chromium, or the
 * file CHROMIUM_PATH names) driven by playwright-core, which downloads no browser of its own. When
 * it is missing and we run as root with apt-get, it is installed (as .ci/run does); otherwise the
 * error says how. Each launch gets a fresh profile, removed on close, and flags that keep Chromium
 * from reaching the network by itself, so the pages under test load only what they serve.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const INSTALL_HINT = 'install it with `apt-get install -y chromium` (Debian/Ubuntu, as root), or set CHROMIUM_PATH to a Chromium binary';

/** The Chromium binary, installed first when it is missing and this process may install it. */
export function findChromium(log: (m: string) => void = () => undefined): string {
  const wanted = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(wanted)) return wanted;
  if (process.env.CHROMIUM_PATH) throw new Error(`CHROMIUM_PATH names ${wanted}, which does not exist`);
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) throw new Error(`the browser tests need Chromium at ${wanted}: ${INSTALL_HINT}`);
  log('installing chromium (apt-get install -y chromium) for the browser tests');
  execFileSync('apt-get', ['install', '-y', 'chromium'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
  if (!existsSync(wanted)) throw new Error(`apt-get install chromium did not provide ${wanted}: ${INSTALL_HINT}`);
  return wanted;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(log?: (m: string) => void): Promise<Browser> {
  const executablePath = findChromium(log);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'layer1-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1000 } });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
