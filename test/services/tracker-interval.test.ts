/** The server-driven reporting interval. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_INTERVAL, MIN_INTERVAL, reportingInterval } from '../../src/services/tracker/interval.js';

describe('reporting interval', () => {
  it('asks a standing device far from every fence to report rarely', () => {
    assert.equal(reportingInterval(0, undefined, true), MAX_INTERVAL);
  });

  it('asks a moving device with no fence near for one fix a minute', () => {
    assert.equal(reportingInterval(10, undefined, false), 60);
  });

  it('reports three times on the way to the nearest boundary, never more often than every 5 s', () => {
    assert.equal(reportingInterval(10, 900, false), 30); // 90 s to go
    assert.equal(reportingInterval(10, 60, false), MIN_INTERVAL);
    assert.equal(reportingInterval(30, 100_000, false), 60, 'capped while moving');
  });

  it('assumes a walk when a moving device reports no speed', () => {
    assert.equal(reportingInterval(undefined, 84, false), 20);
  });

  it('keeps a standing device near a fence ready to start walking', () => {
    assert.equal(reportingInterval(0, 420, true), 100);
  });
});
