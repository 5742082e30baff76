import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SignatureEngine, TemplateMiner, WILDCARD, maskMessage, signatureId, templateHash } from '../../src/signatures';

const mask = (message: string): string => maskMessage(message).join(' ');

describe('signatures: masking', () => {
  const cases: Array<[kind: string, message: string, template: string]> = [
    ['integers', 'retry 3 of 10', 'retry <*> of <*>'],
    ['decimals and signs', 'load -0.75 avg 12.5', 'load <*> avg <*>'],
    ['hex', 'fault at 0x7ffe12ab, code deadbeef1234', 'fault at <*>, code <*>'],
    ['UUIDs', 'instance 123e4567-e89b-12d3-a456-426614174000 started', 'instance <*> started'],
    ['IPv4', 'connect 192.168.1.254 refused', 'connect <*> refused'],
    ['IPv4 with port', 'from 10.0.0.1:8080 to 10.0.0.2:443', 'from <*> to <*>'],
    ['IPv6', 'peer fe80::1%eth0 and ::1 and 2001:db8::8a2e:370:7334', 'peer <*> and <*> and <*>'],
    ['IPv6 with port', 'peer [2001:db8::1]:443 closed', 'peer <*> closed'],
    ['absolute paths', 'open /var/log/app.log failed', 'open <*> failed'],
    ['relative and Windows paths', 'read ./conf/app.yaml and C:\\Windows\\app.dll', 'read <*> and <*>'],
    ['quoted paths', "removing device node '/udev/vcsa2'", "removing device node '<*>'"],
    ['URLs', 'GET https://example.com/a/b?c=1&d=2 ok', 'GET <*> ok'],
    ['e-mail', 'mail to ops@example.com bounced', 'mail to <*> bounced'],
    ['durations with units', 'took 250ms then 3 s then 1.5 sec', 'took <*> then <*> <*> then <*> <*>'],
    ['sizes with units', 'size 5.2 KB, free 93.0 B', 'size <*> <*>, free <*> <*>'],
    ['ISO times', 'at 2024-05-01T12:30:45.123Z until 2024-05-01T13:00+02:00', 'at <*> until <*>'],
    ['date and time apart', 'on 2024-05-01 12:30:45,123 ok', 'on <*> <*> ok'],
    ['syslog dates', 'at Fri Jun 17 07:07:00 2005 up', 'at <*> <*> <*> <*> <*> up'],
    ['key=value', 'auth failure uid=0 user=root rhost=db.example.org', 'auth failure uid=<*> user=<*> rhost=<*>'],
    ['booleans and null', 'overlap:false ws=null ready true', 'overlap:<*> ws=<*> ready <*>'],
    ['ids inside tokens', 'block blk_-6952295868487656571 on node-96', 'block <*> on <*>'],
  ];
  for (const [kind, message, template] of cases) {
    it(`masks ${kind}`, () => assert.equal(mask(message), template));
  }

  it('keeps prose, punctuation and identifiers without digits', () => {
    assert.equal(mask('Kerberos authentication failed: Permission denied.'), 'Kerberos authentication failed: Permission denied.');
    assert.equal(mask('org.apache.hadoop.ipc.Server$Handler caught'), 'org.apache.hadoop.ipc.Server$Handler caught');
    assert.equal(mask('Fan speeds ( 3552 **** 3515 )'), 'Fan speeds ( <*> **** <*> )');
  });

  it('splits at any whitespace and gives no tokens for an empty message', () => {
    assert.deepEqual(maskMessage(''), []);
    assert.deepEqual(maskMessage(' \t\r '), []);
    assert.deepEqual(maskMessage('a\tb  c'), ['a', 'b', 'c']);
  });

  it('caps the number of tokens of a huge message', () => {
    assert.equal(maskMessage('word '.repeat(100_000)).length, 256);
  });
});

describe('signatures: ids', () => {
  it('is <kernel>_<ErrorType>_<hash>, or the hash alone without a source', () => {
    const hash = templateHash('denied user <*>');
    assert.match(hash, /^[0-9a-f]{8}$/);
    assert.equal(signatureId('denied user <*>', { kernel: 'message_bus', errorType: 'ACLViolation' }), `message_bus_ACLViolation_${hash}`);
    assert.equal(signatureId('denied user <*>', { kernel: 'message_bus' }), `message_bus_${hash}`);
    assert.equal(signatureId('denied user <*>'), hash);
  });
});

describe('signatures: engine', () => {
  it('gives messages that differ only in variable parts one signature', () => {
    const engine = new SignatureEngine();
    const a = engine.sign({ kernel: 'message_bus', errorType: 'ACLViolation', message: 'ACL denied publish to orders.42 for client 10.1.2.3:5555' });
    const b = engine.sign({ kernel: 'message_bus', errorType: 'ACLViolation', message: 'ACL denied publish to orders.7 for client 10.9.9.9:6000' });
    assert.equal(a.signature, b.signature);
    assert.match(a.signature, /^message_bus_ACLViolation_[0-9a-f]{8}$/);
    assert.equal(a.template, 'ACL denied publish to <*> for client <*>');
  });

  it('never merges unrelated messages', () => {
    const engine = new SignatureEngine();
    const messages = [
      'Link ok',
      'Link error',
      'running',
      'blocked',
      'cupsd startup succeeded',
      'cupsd shutdown succeeded',
      'klogd startup succeeded',
      '[instance: 1f0e] VM Started (Lifecycle Event)',
      '[instance: 1f0e] VM Paused (Lifecycle Event)',
      '10.0.0.1 "GET /v2/servers HTTP/1.1" status: 200 len: 1893 time: 0.24',
      '10.0.0.1 "POST /v2/servers HTTP/1.1" status: 200 len: 1893 time: 0.24',
      'Took 1.03 seconds to spawn the instance on the hypervisor.',
      'Took 1.03 seconds to destroy the instance on the hypervisor.',
      'Acquiring suspend blocker "PowerManagerService.WakeLocks".',
      'Releasing suspend blocker "PowerManagerService.WakeLocks".',
      'Fan speeds ( 3552 3534 3375 4245 3515 3479 )',
      'Fan speeds ( 3552 3534 3375 **** 3515 3479 )',
      'connection timed out after 30 s',
      'disk full on /dev/sda1',
    ];
    const ids = messages.map((message) => engine.sign({ message }).signature);
    assert.equal(new Set(ids).size, messages.length, 'every message keeps its own signature');
    // …and still, after everything has been learned:
    assert.equal(new Set(ids.map((id) => engine.resolve(id)?.signature)).size, messages.length);
  });

  it('keeps sources apart', () => {
    const engine = new SignatureEngine();
    const a = engine.sign({ kernel: 'bus', message: 'timeout after 5 s' });
    const b = engine.sign({ kernel: 'store', message: 'timeout after 5 s' });
    assert.notEqual(a.signature, b.signature);
    assert.equal(a.template, b.template);
  });

  it('generalises a template online and keeps the old id resolvable', () => {
    const engine = new SignatureEngine();
    const users = ['cyrus', 'news', 'test', 'root', 'admin'];
    const signed = users.map((user) => engine.sign({ message: `session opened for user ${user} by (uid=0)` }));
    assert.equal(signed[0].template, 'session opened for user cyrus by (uid=<*>)', 'one name is part of the event so far');
    const last = signed[signed.length - 1];
    assert.equal(last.template, 'session opened for user <*> by (uid=<*>)', 'five names: the position is a variable');
    for (const s of signed.slice(0, -1)) {
      assert.notEqual(s.signature, last.signature, 'a new template gets the id of its text');
      assert.deepEqual(engine.resolve(s.signature), last, 'every id issued while learning names the generalised template');
    }
    assert.deepEqual(engine.sign({ message: 'session opened for user cyrus by (uid=0)' }), last);
    assert.equal(engine.resolve('not-an-id'), undefined);
  });

  it('keeps a position with few words apart, as part of the event', () => {
    const engine = new SignatureEngine();
    const states = ['Started', 'Paused', 'Resumed', 'Stopped'];
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) ids.add(engine.sign({ message: `[instance: ${i}] VM ${states[i % 4]} (Lifecycle Event)` }).signature);
    assert.equal(new Set([...ids].map((id) => engine.resolve(id)?.signature)).size, 4);
  });

  it('learns a few names as a variable when two events share them', () => {
    const engine = new SignatureEngine();
    const users = ['cyrus', 'news', 'test'];
    const ids: string[] = [];
    for (const user of users) {
      ids.push(engine.sign({ message: `session opened for user ${user} by (uid=0)` }).signature);
      ids.push(engine.sign({ message: `session closed for user ${user}` }).signature);
    }
    const final = ids.map((id) => engine.resolve(id)?.template);
    assert.deepEqual(new Set(final), new Set(['session opened for user <*> by (uid=<*>)', 'session closed for user <*>']));
  });

  it('keeps event words apart even when two events share them, after different words', () => {
    const engine = new SignatureEngine();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      for (const verb of ['opened', 'closed']) {
        ids.push(engine.sign({ message: `session ${verb} for client ${i} on port ${i + 1}` }).signature);
        ids.push(engine.sign({ message: `connection ${verb} by peer ${i}` }).signature);
      }
    }
    assert.equal(new Set(ids.map((id) => engine.resolve(id)?.signature)).size, 4);
  });

  it('recognises word variables by their behaviour, wherever they sit, without knowing any word', () => {
    // Names made of random letters (no vocabulary can know them): hosts, programs and users.
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const word = (): string => Array.from({ length: 3 + Math.floor(random() * 6) }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join('');
    const pool = (n: number): string[] => Array.from({ length: n }, word);
    const [users, hosts, programs] = [pool(40), pool(30), pool(12)];
    const pick = (xs: string[]): string => xs[Math.floor(random() * xs.length)];
    const shapes = [
      (): string => `${pick(users)} : TTY=pts/${Math.floor(random() * 9)} ; PWD=/home/${pick(users)} ; USER=root ; COMMAND=/bin/${pick(programs)}`,
      (): string => `Invalid user ${pick(users)} from 10.0.${Math.floor(random() * 255)}.1`,
      (): string => `${pick(programs)}: connection from ${pick(hosts)} refused`,
      (): string => `${pick(hosts)} ${pick(programs)}: disk quota exceeded for ${pick(users)}`,
      (): string => `Accepted publickey for ${pick(users)} from ${pick(hosts)} port ${Math.floor(random() * 65535)} ssh2`,
      (): string => `Started Session ${Math.floor(random() * 999)} of user ${pick(users)}.`,
    ];
    const engine = new SignatureEngine();
    const byShape = shapes.map(() => new Set<string>());
    const issued: Array<[number, string]> = [];
    for (let i = 0; i < 1500; i++) {
      const shape = Math.floor(random() * shapes.length);
      issued.push([shape, engine.sign({ message: shapes[shape]() }).signature]);
    }
    for (const [shape, id] of issued) byShape[shape].add(engine.resolve(id)!.signature);
    assert.deepEqual(
      byShape.map((ids) => ids.size),
      shapes.map(() => 1),
      'one signature per event',
    );
    assert.equal(new Set(byShape.map((ids) => [...ids][0])).size, shapes.length, 'and never one for two events');
  });

  it('treats an empty value as the same slot', () => {
    const engine = new SignatureEngine();
    const a = engine.sign({ message: 'connection from 10.0.0.1 (host1.example.net) at 12:00:01' });
    const b = engine.sign({ message: 'connection from 10.0.0.2 () at 12:00:02' });
    assert.equal(engine.resolve(a.signature)?.signature, b.signature);
  });

  it('restores what it learned and issues the same ids', () => {
    const engine = new SignatureEngine();
    const lines = ['user cyrus logged in from 10.0.0.1', 'user news logged in from 10.0.0.2', 'disk /dev/sda1 full'];
    const before = lines.map((message) => engine.sign({ kernel: 'k', message }));
    const restored = new SignatureEngine();
    restored.restore(engine.records());
    for (const [i, message] of lines.entries()) {
      assert.deepEqual(restored.sign({ kernel: 'k', message }), engine.resolve(before[i].signature));
    }
    assert.deepEqual(restored.resolve(before[0].signature), engine.resolve(before[0].signature));
  });

  it('a replica restored mid-stream issues the same ids as the engine that went on, merges included', () => {
    const names = ['ada', 'bert', 'cleo', 'dora', 'emil', 'fay', 'gus'];
    const stream: string[] = [];
    for (let i = 0; i < 60; i++) {
      const a = names[(i * 3) % names.length];
      const b = names[(i * 5 + 1) % names.length];
      stream.push(i % 3 === 0 ? `${a} ${b}: disk quota exceeded for ${a}` : i % 3 === 1 ? `session closed for user ${b}` : `worker ${i} lost lease`);
    }
    const original = new SignatureEngine();
    const half = stream.length / 2;
    stream.slice(0, half).forEach((message) => original.sign({ kernel: 'k', message }));
    const records = original.records();
    assert.ok(records.some((r) => r.mergedInto !== undefined), 'the first half merged some templates');
    const replica = new SignatureEngine();
    replica.restore(JSON.parse(JSON.stringify(records)) as typeof records);
    for (const message of stream.slice(half)) {
      assert.deepEqual(replica.sign({ kernel: 'k', message }), original.sign({ kernel: 'k', message }), message);
    }
    for (const r of records) for (const id of r.ids) assert.deepEqual(replica.resolve(id), original.resolve(id));
  });

  it('property: a replica restored at any point issues the same ids as the engine that went on', () => {
    const name = fc.stringMatching(/^[a-z]{2,6}$/);
    const message = fc.oneof(
      fc.tuple(name, name).map(([a, b]) => `${a} ${b}: disk quota exceeded for ${a}`),
      name.map((a) => `session closed for user ${a}`),
      fc.tuple(name, fc.nat(99)).map(([a, n]) => `session opened for user ${a} by (uid=${n})`),
      fc.tuple(fc.constantFrom('Started', 'Paused', 'Stopped'), fc.nat(9)).map(([s, n]) => `VM ${s} after ${n} s`),
      fc.tuple(name, name).map(([a, b]) => `connection from ${a} to ${b} refused`),
      fc.tuple(name, fc.constantFrom('', 'x')).map(([a, x]) => `rhost=${x} user ${a} failed`),
    );
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 80 }), fc.nat(), (stream, at) => {
        const cut = at % stream.length;
        const original = new SignatureEngine();
        stream.slice(0, cut).forEach((m) => original.sign({ message: m }));
        const replica = new SignatureEngine();
        replica.restore(original.records());
        for (const m of stream.slice(cut)) assert.deepEqual(replica.sign({ message: m }), original.sign({ message: m }));
      }),
      { numRuns: 300 },
    );
  });

  it('matches without learning: a known variant finds its template, an unknown message finds none', () => {
    const miner = new TemplateMiner();
    for (const user of ['cyrus', 'news', 'test', 'root', 'admin']) miner.add(maskMessage(`session closed for user ${user}`));
    const clusters = miner.clusters.length;
    assert.equal(miner.match(maskMessage('session closed for user nobody'))?.template, 'session closed for user <*>');
    assert.equal(miner.match(maskMessage('disk full on sda')), undefined);
    assert.equal(miner.clusters.length, clusters);
  });

  it('refuses to restore after signing', () => {
    const engine = new SignatureEngine();
    engine.sign({ message: 'x' });
    assert.throws(() => engine.restore([]), /before sign/);
  });

  it('property: the id does not depend on the values in variable positions', () => {
    // Values of the kinds masking recognises, generated at random.
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
    const value = fc.oneof(
      fc.integer().map(String),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }).map((d) => d.toFixed(3)),
      fc.nat().map((n) => `0x${n.toString(16)}`),
      fc.uuid(),
      fc.tuple(ipv4, fc.integer({ min: 1, max: 65535 })).map(([ip, port]) => `${ip}:${port}`),
      fc.array(fc.stringMatching(/^[a-z]{1,8}$/), { minLength: 1, maxLength: 4 }).map((segs) => `/${segs.join('/')}`),
      // Addresses as logs show them (fc.emailAddress() also yields RFC 5322 oddities such as `{a}@b.c`).
      fc
        .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,10}$/), fc.stringMatching(/^[a-z0-9-]{1,10}$/), fc.constantFrom('com', 'org', 'io', 'de'))
        .map(([local, domain, tld]) => `${local}@${domain}.${tld}`),
      fc
        .tuple(fc.constantFrom('http', 'https'), fc.stringMatching(/^[a-z0-9-]{1,10}$/), fc.array(fc.stringMatching(/^[a-z0-9_-]{1,8}$/), { maxLength: 3 }), fc.nat())
        .map(([scheme, host, path, n]) => `${scheme}://${host}.example/${path.join('/')}?page=${n}`),
    );
    const shapes = [
      (v: string[]): string => `request ${v[0]} failed after ${v[1]} retries`,
      (v: string[]): string => `worker ${v[0]} lost lease on ${v[1]}`,
      (v: string[]): string => `ACL denied: subject=${v[0]} resource=${v[1]}`,
    ];
    fc.assert(
      fc.property(fc.nat(shapes.length - 1), fc.array(value, { minLength: 2, maxLength: 2 }), fc.array(value, { minLength: 2, maxLength: 2 }), (shape, a, b) => {
        const engine = new SignatureEngine();
        const first = engine.sign({ kernel: 'k', errorType: 'E', message: shapes[shape](a) });
        const second = engine.sign({ kernel: 'k', errorType: 'E', message: shapes[shape](b) });
        assert.equal(second.signature, first.signature);
        assert.ok(first.template.includes(WILDCARD));
      }),
      { numRuns: 300 },
    );
  });
});
