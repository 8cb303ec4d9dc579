/** The native protocol under bad input: arbitrary frames never crash it, never store anything, and oversized frames are refused. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import WebSocket from 'ws';
import { AppError } from '../../src/core/errors.js';
import { parseClientFrame } from '../../src/edge/native-ws.js';
import { decodeNativeFix } from '../../src/edge/fix.js';
import { seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

describe('native protocol fuzzing', () => {
  it('answers any text with a frame or an AppError, never another exception (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.record({ type: fc.constantFrom('hello', 'position', 'positions', 'receipt', 'ping', 'x'), id: fc.anything(), fix: fc.anything(), fixes: fc.anything(), token: fc.anything(), status: fc.anything(), deliveryId: fc.anything(), response: fc.anything() }).map((o) => JSON.stringify(o))), (text) => {
        try {
          const frame = parseClientFrame(text);
          if (frame.type === 'position') decodeNativeFix(frame.fix);
          if (frame.type === 'positions') frame.fixes.forEach(decodeNativeFix);
        } catch (err) {
          assert.ok(err instanceof AppError, `threw ${String(err)}`);
          assert.equal(err.code, 'frame_invalid');
        }
      }),
      { numRuns: 3000, seed: 11 },
    );
  });

  describe('over a real socket', () => {
    let p: TestPlatform;
    let t: Awaited<ReturnType<typeof seedTenant>>;
    before(async () => {
      p = await startTestPlatform({ FOLLOWME_MAX_FRAME_BYTES: '4096' });
      t = await seedTenant(p);
    });
    after(() => p.stop());

    it('survives random bytes and random JSON from an authenticated device, storing nothing', async () => {
      const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
      const random = fc.sample(fc.jsonValue(), { numRuns: 100, seed: 5 });
      for (const value of random) device.send(JSON.stringify(value));
      for (let i = 0; i < 50; i++) device.ws.send(randomBytes(1 + (i * 37) % 500).toString('latin1'));
      for (let i = 0; i < 20; i++) device.ws.send(randomBytes(64), { binary: true });
      device.send({ type: 'ping' });
      assert.equal((await device.next((f) => f.type === 'pong', 10_000)).type, 'pong', 'still usable');
      assert.ok(device.frames.every((f) => f.type === 'error'), 'only error frames');
      assert.equal((await p.api('GET', `/tenants/${t.tenant.id}/positions`)).body.length, 0);
      device.close();
    });

    it('closes a connection that sends a frame over the limit with 1009, and refuses oversized HTTP bodies with 413', async () => {
      const ws = new WebSocket(`${p.url.replace('http', 'ws')}/device/v1`);
      await new Promise((resolve) => ws.once('open', resolve));
      ws.send('x'.repeat(10_000));
      const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
      assert.equal(code, 1009);
      const res = await fetch(`${p.url}/device/v1/positions`, { method: 'POST', headers: { authorization: `Bearer ${t.devices[0]!.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ fixes: [{ time: Date.now(), lon: 1, lat: 1, pad: 'x'.repeat(10_000) }] }) });
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as { code: string }).code, 'payload_too_large');
    });
  });
});
