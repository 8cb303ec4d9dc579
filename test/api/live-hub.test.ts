/**
 * The live stream's hub holds its bus subscriptions only while streams are open (and a while after):
 * otherwise every position of every tenant would cross the bus to each api process for nobody.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../src/adapters/bus-memory.js';
import { LiveHub } from '../../src/api/live.js';
import type { Bus, Subscription } from '../../src/ports/bus.js';
import { positionAccepted } from '../../src/services/tracker/index.js';
import { eventually, sleep } from '../helpers.js';

/** The in-process bus, counting the plain subscriptions open on it. */
function countingBus(): { bus: Bus; open: () => number } {
  const inner = new MemoryBus();
  let open = 0;
  const bus = Object.create(inner) as Bus;
  bus.subscribe = async (topic, handler) => {
    const sub = await inner.subscribe(topic, handler);
    open++;
    let closed = false;
    return {
      close: async () => {
        if (!closed) open--;
        closed = true;
        await sub.close();
      },
    } satisfies Subscription;
  };
  return { bus, open: () => open };
}

const position = (tenantId: string, deviceId: string) => ({ tenantId, deviceId, time: Date.now(), lon: 13.4, lat: 52.5, receivedAt: Date.now() });

describe('live hub', () => {
  it('subscribes when a stream opens, forwards to the streams of the tenant, and lets go once none has been open for a while', async () => {
    const { bus, open } = countingBus();
    const hub = new LiveHub(50);
    await hub.start(bus);
    assert.equal(open(), 0, 'nothing subscribed before a stream opens');

    await hub.ready();
    const subscribed = open();
    assert.ok(subscribed >= 5, `the topics a stream shows: ${subscribed}`);
    const seen: string[] = [];
    const stop = hub.listen('ten_a', (event, data) => seen.push(`${event}:${(data as { deviceId: string }).deviceId}`));
    await bus.publish(positionAccepted, 'dev_1', position('ten_a', 'dev_1'));
    await bus.publish(positionAccepted, 'dev_2', position('ten_b', 'dev_2'));
    await eventually(() => seen.length === 1, 2000, 'the position of the tenant');
    assert.deepEqual(seen, ['position:dev_1']);

    // a stream closing and another opening within the idle time: no churn
    stop();
    await sleep(10);
    await hub.ready();
    const again = hub.listen('ten_a', (event, data) => seen.push(`${event}:${(data as { deviceId: string }).deviceId}`));
    await sleep(100);
    assert.equal(open(), subscribed, 'kept while a stream is open');

    again();
    await eventually(() => open() === 0, 2000, 'released after the idle time');
    await bus.publish(positionAccepted, 'dev_1', position('ten_a', 'dev_1'));

    // the next stream subscribes again and sees what comes after its hello
    await hub.ready();
    assert.equal(open(), subscribed);
    const last = hub.listen('ten_a', (event, data) => seen.push(`${event}:${(data as { deviceId: string }).deviceId}`));
    await bus.publish(positionAccepted, 'dev_3', position('ten_a', 'dev_3'));
    await eventually(() => seen.length === 2, 2000, 'the position after resubscribing');
    assert.deepEqual(seen, ['position:dev_1', 'position:dev_3']);
    last();
    await hub.close();
    assert.equal(open(), 0);
  });
});
