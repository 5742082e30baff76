/**
 * Connecting to Temporal from configuration: several frontend addresses tried in order, `temporal.tls`
 * mapped to the SDK's options, and the TLS handshake itself. No TLS-capable Temporal server can be
 * started by the unit tier (the CLI dev server has no TLS), so the handshake is checked against a
 * stand-in frontend: an HTTP/2 TLS server that answers the one RPC a connection makes first
 * (WorkflowService/GetSystemInfo) with an empty message, behind a CA made here with openssl.
 * docs/deploy.md says how the deployment recipe runs a real frontend with TLS.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { parseConfig, ConfigError } from '../../src/config/load';
import { connectFirst, connectTemporal, temporalAddresses, tlsOptions, TemporalUnreachableError } from '../../src/clients/temporal';
import { serverEndpoints } from '../../src/stack/endpoints';
import { portInUse, webUiUrl } from '../../src/stack/services';

const FILE = '/tmp/layer1-temporal-connect-test/temporal.config.yaml';

function problems(text: string): string[] {
  try {
    parseConfig(text, FILE, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

/** A CA, a server certificate for temporal.test and 127.0.0.1, and a client certificate, all PEM. */
function makeCerts(dir: string): void {
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=layer1 test CA');
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:temporal.test,IP:127.0.0.1\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=temporal.test');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=layer1');
  // With an extension, so a v3 certificate: rustls (NativeConnection) refuses v1.
  writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2', '-extfile', 'client.ext');
}

/** A TLS frontend stand-in; `mutual` asks for a client certificate signed by the CA. */
async function fakeFrontend(dir: string, mutual: boolean): Promise<{ address: string; calls: string[]; close: () => void }> {
  const calls: string[] = [];
  const read = (f: string): Buffer => readFileSync(path.join(dir, f));
  const server = http2.createSecureServer({
    key: read('server.key'),
    cert: read('server.pem'),
    ca: read('ca.pem'),
    requestCert: mutual,
    rejectUnauthorized: mutual,
    allowHTTP1: false,
  });
  server.on('stream', (stream, headers) => {
    calls.push(String(headers[':path']));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    // An empty message (GetSystemInfoResponse with no fields): not compressed, length 0.
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  server.on('sessionError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, calls, close: () => server.close() };
}

/** A loopback port nothing listens on. */
async function deadAddress(): Promise<string> {
  for (let p = 15701; p < 15800; p++) if (!(await portInUse('127.0.0.1', p))) return `127.0.0.1:${p}`;
  throw new Error('no free port');
}

describe('Temporal connections (temporal.address, temporal.tls)', function () {
  this.timeout(60_000);

  describe('configuration', () => {
    it('takes one frontend address or several, comma-separated, in order', () => {
      const one = parseConfig('', FILE, {});
      assert.deepEqual(temporalAddresses(one), ['127.0.0.1:7233']);
      const several = parseConfig('temporal:\n  embedded: false\n  address: "10.0.0.1:7233, 10.0.0.2:7233,10.0.0.3:7233"\n', FILE, {});
      assert.deepEqual(temporalAddresses(several), ['10.0.0.1:7233', '10.0.0.2:7233', '10.0.0.3:7233']);
      assert.deepEqual(
        serverEndpoints(several, 'temporal').map((e) => e.port),
        [7233, 7233, 7233],
      );
    });

    it('refuses several addresses for the embedded dev server, a bad list, and half a client pair', () => {
      assert.match(problems('temporal:\n  address: a:1,b:2\n').join('\n'), /temporal\.address: the embedded dev server listens on one address/);
      assert.match(problems('temporal:\n  embedded: false\n  address: "a:1,,b:2"\n').join('\n'), /temporal\.address: expected HOST:PORT, or several/);
      assert.match(problems('temporal:\n  embedded: false\n  tls:\n    certFile: c.pem\n').join('\n'), /give certFile and keyFile together/);
      assert.deepEqual(problems('temporal:\n  embedded: false\n  address: a:1,b:2\n  tls: true\n'), []);
    });

    it('maps temporal.tls to the SDK: true is the system roots, files are read from the config folder', () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-tls-map-'));
      try {
        writeFileSync(path.join(dir, 'ca.pem'), 'CA');
        writeFileSync(path.join(dir, 'c.pem'), 'CERT');
        writeFileSync(path.join(dir, 'c.key'), 'KEY');
        const file = path.join(dir, 'temporal.config.yaml');
        assert.equal(tlsOptions(parseConfig('', file, {})), undefined);
        assert.deepEqual(tlsOptions(parseConfig('temporal:\n  embedded: false\n  tls: true\n', file, {})), {});
        const t = tlsOptions(parseConfig('temporal:\n  embedded: false\n  tls: { serverName: t.test, caFile: ca.pem, certFile: c.pem, keyFile: c.key }\n', file, {}));
        assert.equal(t?.serverNameOverride, 't.test');
        assert.equal(t?.serverRootCACertificate?.toString(), 'CA');
        assert.equal(Buffer.from(t!.clientCertPair!.crt).toString(), 'CERT');
        assert.equal(Buffer.from(t!.clientCertPair!.key).toString(), 'KEY');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('names a Web UI only where there is one', () => {
      assert.equal(webUiUrl(parseConfig('temporal:\n  uiPort: 8299\n', FILE, {})), 'http://127.0.0.1:8299');
      assert.equal(webUiUrl(parseConfig('temporal:\n  embedded: false\n', FILE, {})), null);
      assert.equal(webUiUrl(parseConfig('temporal:\n  embedded: false\n  webUiUrl: https://ui.example:8080\n', FILE, {})), 'https://ui.example:8080');
    });
  });

  describe('connectFirst', () => {
    it('returns the first address that connects, after trying the ones before it in order', async () => {
      const tried: string[] = [];
      const got = await connectFirst(
        ['a:1', 'b:2', 'c:3'],
        async (a) => {
          tried.push(a);
          if (a !== 'b:2') throw new Error(`refused by ${a}`);
          return a;
        },
        async () => null,
      );
      assert.equal(got, 'b:2');
      assert.deepEqual(tried, ['a:1', 'b:2']);
    });

    it('names every address and why when none connects; one address keeps its own error', async () => {
      const fail = async (a: string): Promise<never> => {
        throw new Error(`refused by ${a}`);
      };
      const err = await connectFirst(['a:1', 'b:2'], fail, async () => null).catch((e: unknown) => e);
      assert.ok(err instanceof TemporalUnreachableError);
      assert.equal(err.message, 'could not connect to any Temporal frontend: a:1 (refused by a:1); b:2 (refused by b:2)');
      assert.equal((err.cause as Error).message, 'refused by b:2');
      const single = await connectFirst(['a:1'], fail).catch((e: unknown) => e);
      assert.equal((single as Error).message, 'refused by a:1');
    });

    it('passes over an address that refuses TCP without trying to connect to it', async () => {
      const tried: string[] = [];
      const got = await connectFirst(['a:1', 'b:2'], async (a) => (tried.push(a), a), async (a) => (a === 'a:1' ? 'connect ECONNREFUSED' : null));
      assert.equal(got, 'b:2');
      assert.deepEqual(tried, ['b:2']);
    });
  });

  describe('TLS handshake against a stand-in frontend', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-tls-'));
      makeCerts(dir);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const config = (yaml: string) => parseConfig(yaml, path.join(dir, 'temporal.config.yaml'), {});

    it('connects with the CA file and the server name, after a dead first address', async () => {
      const fe = await fakeFrontend(dir, false);
      try {
        const dead = await deadAddress();
        const c = config(`temporal:\n  embedded: false\n  address: ${dead},${fe.address}\n  tls: { caFile: ca.pem, serverName: temporal.test }\n`);
        const conn = await connectTemporal(c, 2_000);
        await conn.close();
        assert.ok(fe.calls.some((p) => p.endsWith('/GetSystemInfo')), `calls: ${fe.calls.join(', ')}`);
      } finally {
        fe.close();
      }
    });

    it('refuses a server its CA did not sign (no caFile: the system roots, as with tls: true)', async () => {
      const fe = await fakeFrontend(dir, false);
      try {
        const err = await connectTemporal(config(`temporal:\n  embedded: false\n  address: ${fe.address}\n  tls: { serverName: temporal.test }\n`), 2_000).catch((e: unknown) => e);
        assert.ok(err instanceof Error, 'a self-signed CA is not among the system roots');
        assert.equal(fe.calls.length, 0);
      } finally {
        fe.close();
      }
    });

    it('presents the client certificate for mutual TLS, from Connection and NativeConnection alike', async () => {
      const fe = await fakeFrontend(dir, true);
      try {
        const without = await connectTemporal(config(`temporal:\n  embedded: false\n  address: ${fe.address}\n  tls: { caFile: ca.pem, serverName: temporal.test }\n`), 2_000).catch((e: unknown) => e);
        assert.ok(without instanceof Error, 'the server asks for a client certificate');
        const c = config(`temporal:\n  embedded: false\n  address: ${fe.address}\n  tls: { caFile: ca.pem, serverName: temporal.test, certFile: client.pem, keyFile: client.key }\n`);
        const conn = await connectTemporal(c, 2_000);
        await conn.close();
        const native = await NativeConnection.connect({ address: temporalAddresses(c)[0], tls: tlsOptions(c) });
        await native.close();
        assert.ok(fe.calls.filter((p) => p.endsWith('/GetSystemInfo')).length >= 2, `calls: ${fe.calls.join(', ')}`);
      } finally {
        fe.close();
      }
    });
  });
});
