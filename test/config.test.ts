/** Configuration: validated at start, and documented in one table that matches the code. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadConfig, settings } from '../src/config.js';

describe('configuration', () => {
  it('documents every setting with its default in docs/configuration.md, and nothing else', () => {
    const rows = readFileSync('docs/configuration.md', 'utf8')
      .split('\n')
      .map((line) => /^\| `(\w+)` \| `([^`]*)` \|/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]);
    assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(Object.values(settings).map((s) => [s.env, s.default])));
  });

  it('starts with defaults when nothing is set', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.demo, 'on');
    assert.match(config.dataDir, /data$/);
  });

  it('refuses bad values, naming every bad variable at once', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty', FOLLOWME_DEMO: 'maybe', FOLLOWME_STORE: 'mysql' }), (err: Error) => {
      assert.match(err.message, /PORT must be a whole number from 0 to 65535, got "eighty"/);
      assert.match(err.message, /FOLLOWME_DEMO must be one of on, off, got "maybe"/);
      assert.match(err.message, /FOLLOWME_STORE must be one of sqlite, postgres/);
      return true;
    });
  });
});
