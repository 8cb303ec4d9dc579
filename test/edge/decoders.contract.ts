/**
 * The contract every device protocol decoder keeps (src/edge/decoder.ts), run against each decoder
 * with its recorded payloads: samples decode to fixes without NaN, refused samples throw AppError
 * and nothing else, and arbitrary input (fast-check) never throws anything but AppError.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { AppError } from '../../src/core/errors.js';
import type { Fix } from '../../src/core/types.js';
import type { Decoded, Decoder } from '../../src/edge/decoder.js';

/** The recorded public samples beside the checkout: ../shared/fixtures (in CI the clone has shared/ beside it too). */
export function sharedFixture(name: string): string {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'); // dist/test/edge → repo
  return readFileSync(resolve(repoRoot, '..', 'shared', 'fixtures', name), 'utf8');
}

/** The request lines of osmand-requests.txt (comments left out). */
export function osmandLines(): string[] {
  return sharedFixture('osmand-requests.txt').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export function owntracksMessages(): Record<string, unknown>[] {
  return sharedFixture('owntracks-messages.jsonl').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface ContractCase<Input> {
  name: string;
  input: Input;
  /** Absent: must decode. A field name: must be refused with an AppError naming that field. */
  refusedField?: string;
  /** What the decoded result must contain (checked with partial deep equality on the first fix). */
  expectFix?: Partial<Fix>;
  expectEvents?: string[];
  expectUniqueId?: string;
}

export interface DecoderContract<Input> {
  decoder: Decoder<Input>;
  cases: ContractCase<Input>[];
  /** Arbitrary inputs for fuzzing decode (fast-check). */
  arbitrary: fc.Arbitrary<Input>;
}

const FIX_KEYS: (keyof Fix)[] = ['time', 'lon', 'lat', 'accuracy', 'altitude', 'speed', 'heading', 'battery', 'charging'];

/** Every number in a fix is finite, and nothing but the known fields is there. */
export function assertCleanFix(fix: Fix): void {
  for (const [key, value] of Object.entries(fix)) {
    assert.ok(FIX_KEYS.includes(key as keyof Fix), `unexpected field ${key}`);
    if (key === 'charging') assert.equal(typeof value, 'boolean');
    else assert.ok(typeof value === 'number' && Number.isFinite(value), `${key} must be a finite number, got ${String(value)}`);
  }
  for (const key of ['time', 'lon', 'lat'] as const) assert.equal(typeof fix[key], 'number', `${key} is required`);
}

function assertDecoded(decoded: Decoded): void {
  assert.ok(Array.isArray(decoded.fixes) && Array.isArray(decoded.events));
  for (const fix of decoded.fixes) assertCleanFix(fix);
}

export function decoderContract<Input>(name: string, make: () => DecoderContract<Input>): void {
  describe(`decoder contract: ${name}`, () => {
    const { decoder, cases, arbitrary } = make();

    it('has a protocol name', () => assert.match(decoder.protocol, /^[a-z][a-z0-9-]*$/));

    for (const c of cases) {
      if (c.refusedField !== undefined) {
        it(`refuses ${c.name}, naming ${c.refusedField}`, () => {
          assert.throws(() => decoder.decode(c.input), (err: unknown) => {
            assert.ok(err instanceof AppError, `expected AppError, got ${String(err)}`);
            assert.equal(err.errors[0]?.field, c.refusedField);
            return true;
          });
        });
        continue;
      }
      it(`decodes ${c.name}`, () => {
        const decoded = decoder.decode(c.input);
        assertDecoded(decoded);
        if (c.expectFix) {
          assert.equal(decoded.fixes.length, 1);
          for (const [key, value] of Object.entries(c.expectFix)) {
            const actual = decoded.fixes[0]![key as keyof Fix];
            if (typeof value === 'number') assert.ok(Math.abs((actual as number) - value) < 1e-9, `${key}: expected ${value}, got ${String(actual)}`);
            else assert.equal(actual, value, key);
          }
        }
        if (c.expectEvents) assert.deepEqual(decoded.events.map((e) => e.type), c.expectEvents);
        if (c.expectUniqueId !== undefined) assert.deepEqual(decoded.claim, { kind: 'uniqueId', uniqueId: c.expectUniqueId });
      });
    }

    it('throws nothing but AppError and never yields a NaN, whatever the input (fast-check)', () => {
      fc.assert(
        fc.property(arbitrary, (input) => {
          let decoded: Decoded;
          try {
            decoded = decoder.decode(input);
          } catch (err) {
            if (err instanceof AppError) return true;
            throw err;
          }
          assertDecoded(decoded);
          return true;
        }),
        { numRuns: 3000 },
      );
    });
  });
}
