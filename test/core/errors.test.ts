/** The error catalog and docs/errors.md list the same codes with the same statuses. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { catalog, AppError, invalid } from '../../src/core/errors.js';

describe('error catalog', () => {
  const rows = readFileSync('docs/errors.md', 'utf8')
    .split('\n')
    .map((line) => /^\| `(\w+)` \| (\d{3}) \|/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, Number(m[2])] as const);

  it('documents every code with its status, and nothing else', () => {
    assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(Object.entries(catalog).map(([code, e]) => [code, e.status])));
  });

  it('turns an error into a problem document naming the field', () => {
    const problem = invalid('fixes[2].lat', 'must be a number from -90 to 90').toProblem('/x');
    assert.deepEqual(problem, {
      type: 'https://followme.dev/problems/validation_failed',
      title: 'The request is not valid',
      status: 400,
      code: 'validation_failed',
      detail: 'fixes[2].lat: must be a number from -90 to 90',
      instance: '/x',
      errors: [{ field: 'fixes[2].lat', reason: 'must be a number from -90 to 90' }],
    });
    assert.equal(new AppError('not_found', 'gone').status, 404);
  });
});
