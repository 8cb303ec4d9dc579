/** Ids: a kind prefix, 10 characters of time and 16 of randomness, unique and sorting by creation time. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../../src/core/ids.js';

describe('newId', () => {
  it('is the prefix, 10 base32 characters of time and 16 of randomness', () => {
    const id = newId('dlv');
    assert.match(id, /^dlv_[0-9a-hjkmnp-tv-z]{26}$/);
    const time = [...id.slice(4, 14)].reduce((t, c) => t * 32 + '0123456789abcdefghjkmnpqrstvwxyz'.indexOf(c), 0);
    assert.ok(Math.abs(time - Date.now()) < 1000, 'the head is the time in milliseconds');
  });

  it('never repeats over many pool refills, and every random character takes every value about equally', () => {
    const n = 200_000; // 2 MB of randomness: the 4 KiB pool refilled about 500 times
    const ids = Array.from({ length: n }, () => newId('x'));
    assert.equal(new Set(ids).size, n);
    for (let j = 0; j < 16; j++) {
      // 80 random bits, 5 in each of the 16 tail characters (after 'x_' and the 10 of time)
      const counts = new Map<string, number>();
      for (const id of ids) counts.set(id[12 + j]!, (counts.get(id[12 + j]!) ?? 0) + 1);
      assert.equal(counts.size, 32, `tail character ${j} uses all 32 characters`);
      for (const [c, k] of counts) assert.ok(Math.abs(k - n / 32) < n / 32 / 5, `tail character ${j}: ${c} appears ${k} times, expected about ${n / 32}`);
    }
  });

  it('sorts by creation time across milliseconds', async () => {
    const first = newId('m');
    await new Promise((resolve) => setTimeout(resolve, 3));
    const second = newId('m');
    assert.ok(first < second);
  });
});
