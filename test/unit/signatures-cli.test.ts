import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { IDLE_MS, MAX_LINE_BYTES, parseStream } from '../../scripts/signatures';
import { SignatureEngine } from '../../src/signatures';

interface Line {
  signature: string;
  template: string;
}

async function parse(chunks: Buffer[], source?: string): Promise<Line[]> {
  const output = new PassThrough();
  const collected: Buffer[] = [];
  output.on('data', (b: Buffer) => collected.push(b));
  await parseStream(Readable.from(chunks), output, new SignatureEngine(), { source });
  output.end();
  const text = Buffer.concat(collected).toString('utf8');
  return text === '' ? [] : text.trimEnd().split('\n').map((l) => JSON.parse(l) as Line);
}

describe('signatures parse (stdin → JSON lines)', () => {
  it('writes one object a line, in input order, including empty lines', async () => {
    const out = await parse([Buffer.from('disk 1 full\n\ndisk 2 full\r\nlast line 3')]);
    assert.equal(out.length, 4);
    assert.deepEqual(Object.keys(out[0]), ['signature', 'template']);
    assert.equal(out[0].template, 'disk <*> full');
    assert.equal(out[1].template, '');
    assert.equal(out[2].signature, out[0].signature);
    assert.equal(out[3].template, 'last line <*>');
  });

  it('joins lines split across chunks and accepts bytes that are not UTF-8', async () => {
    const out = await parse([Buffer.from('disk 1 fu'), Buffer.from([0x6c, 0x6c, 0x0a, 0xff, 0xfe, 0x20, 0x34, 0x32, 0x0a])]);
    assert.equal(out.length, 2);
    assert.equal(out[0].template, 'disk <*> full');
    assert.equal(out[1].template, '\ufffd\ufffd <*>');
  });

  it('handles very long lines within bounded memory', async () => {
    const long = Buffer.alloc(MAX_LINE_BYTES * 3, 'a 1 ');
    const out = await parse([long, Buffer.from('\nshort 5\n')]);
    assert.equal(out.length, 2);
    assert.ok(out[0].template.startsWith('a <*> a <*>'));
    assert.equal(out[1].template, 'short <*>');
  });

  it('prefixes ids with the source', async () => {
    const [line] = await parse([Buffer.from('timeout after 5 s\n')], 'message_bus');
    assert.match(line.signature, /^message_bus_[0-9a-f]{8}$/);
  });

  it('gives every line of a batch the id its template has at the end of the batch', async () => {
    const users = ['cyrus', 'news', 'test', 'root', 'admin', 'mail'];
    const out = await parse([Buffer.from(users.map((u) => `session opened for user ${u} by (uid=0)\n`).join(''))]);
    assert.equal(new Set(out.map((l) => l.signature)).size, 1, 'the early lines carry the generalised id too');
    assert.equal(out[0].template, 'session opened for user <*> by (uid=<*>)');
  });

  it('prints what it holds when the input pauses, before the input ends', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const seen: string[] = [];
    output.on('data', (b: Buffer) => seen.push(b.toString('utf8')));
    const done = parseStream(input, output, new SignatureEngine());
    input.write('disk 1 full\n');
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 3));
    const early = seen.join('').trimEnd().split('\n');
    assert.equal(early.length, 1, 'the first line is out while the input is still open');
    assert.equal((JSON.parse(early[0]) as Line).template, 'disk <*> full');
    input.end('disk 2 full\n');
    assert.equal(await done, 2);
    assert.equal(seen.join('').trimEnd().split('\n').length, 2);
  });

  it('reads no input as no output', async () => {
    assert.deepEqual(await parse([]), []);
  });
});
