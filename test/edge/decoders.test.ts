/** The OsmAnd and OwnTracks decoders against the contract, fed with the recorded public samples. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AppError } from '../../src/core/errors.js';
import { OsmandDecoder, type OsmandRequest } from '../../src/edge/osmand.js';
import { encryptOwntracks, OwntracksDecoder, type OwntracksPayload } from '../../src/edge/owntracks.js';
import { decoderContract, osmandLines, owntracksMessages, type ContractCase } from './decoders.contract.js';

const NOW = Date.UTC(2026, 0, 1);
const KNOT = 1852 / 3600;

const get = (line: string): OsmandRequest => ({ query: line.slice(line.indexOf('?') + 1), body: '', receivedAt: NOW });

decoderContract<OsmandRequest>('osmand', () => {
  const lines = osmandLines();
  assert.equal(lines.length, 5, 'osmand-requests.txt holds five request lines');
  const expected: Omit<ContractCase<OsmandRequest>, 'input' | 'name'>[] = [
    { expectUniqueId: '902064', expectFix: { lat: 42.06288, lon: -88.23412, time: Date.parse('2016-01-27T18:55:47Z'), accuracy: 30, altitude: 224, speed: 0 } },
    { expectUniqueId: '902064', expectFix: { time: 1442068686579, lat: 42.06288 } },
    { expectUniqueId: '353861053849681', expectFix: { time: Date.UTC(2014, 5, 4, 9, 10, 11), lat: 49.60688, lon: 6.15788, altitude: 384.7 } },
    { expectUniqueId: '123456', expectFix: { time: 1377177267_000, lat: 60, lon: 30 } },
    { refusedField: 'id' },
  ];
  const cases: ContractCase<OsmandRequest>[] = lines.map((line, i) => ({ name: `recorded sample ${i + 1} (${line.slice(0, 48)}…)`, input: get(line), ...expected[i] }));
  cases.push(
    { name: 'a form body (POST)', input: { query: '', body: 'id=abc&lat=1.5&lon=2.5&timestamp=1700000000&speed=10&bearing=360&batt=40&charge=true', contentType: 'application/x-www-form-urlencoded', receivedAt: NOW }, expectUniqueId: 'abc', expectFix: { time: 1700000000_000, speed: 10 * KNOT, heading: 0, battery: 40, charging: true } },
    {
      name: 'the Traccar Client JSON body',
      input: {
        query: '',
        contentType: 'application/json',
        receivedAt: NOW,
        body: JSON.stringify({ location: { timestamp: '2025-12-31T23:59:00.000Z', coords: { latitude: 52.5, longitude: 13.4, accuracy: 7.5, speed: 1.25, heading: -1, altitude: 40 }, is_moving: true, odometer: 12, event: 'motionchange', battery: { level: 0.85, is_charging: false }, activity: { type: 'walking' } }, device_id: 'phone-7' }),
      },
      expectUniqueId: 'phone-7',
      expectFix: { time: Date.parse('2025-12-31T23:59:00Z'), lat: 52.5, lon: 13.4, accuracy: 7.5, speed: 1.25, altitude: 40, battery: 85, charging: false },
    },
    { name: 'deviceid instead of id, no timestamp (arrival time)', input: get('/?deviceid=x1&lat=1&lon=2'), expectUniqueId: 'x1', expectFix: { time: NOW } },
    { name: 'a request without coordinates', input: get('/?id=1&timestamp=1377177267'), refusedField: 'lat' },
    { name: 'an unreadable time', input: get('/?id=1&lat=1&lon=2&timestamp=yesterday'), refusedField: 'timestamp' },
    { name: 'a location that is not lat,lon', input: get('/?id=1&location=60.0'), refusedField: 'location' },
  );
  const text = fc.oneof(fc.string(), fc.constantFrom('1', '-1', 'NaN', 'Infinity', '1e400', '', ' ', '60.0,30.0', '2016-01-27T18:55:47Z', '2014-06-04 09:10:11'));
  const query = fc.array(fc.tuple(fc.constantFrom('id', 'deviceid', 'lat', 'lon', 'location', 'timestamp', 'speed', 'bearing', 'heading', 'altitude', 'accuracy', 'hdop', 'batt', 'battery', 'charge', 'x'), text)).map((pairs) => new URLSearchParams(pairs).toString());
  const json = fc.oneof(fc.json(), fc.record({ device_id: fc.oneof(fc.string(), fc.integer()), location: fc.oneof(fc.anything(), fc.record({ timestamp: fc.anything(), coords: fc.dictionary(fc.constantFrom('latitude', 'longitude', 'speed', 'heading', 'accuracy', 'altitude'), fc.oneof(fc.double(), fc.string(), fc.constant(null))), battery: fc.anything() })) }).map((o) => JSON.stringify(o)));
  const arbitrary = fc.record({
    query: fc.oneof(query, fc.string()),
    body: fc.oneof(fc.constant(''), query, json, fc.string(), fc.uint8Array().map((b) => Buffer.from(b).toString('latin1'))),
    contentType: fc.option(fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream'), { nil: undefined }),
    receivedAt: fc.constant(NOW),
  });
  return { decoder: new OsmandDecoder(), cases, arbitrary };
});

decoderContract<OwntracksPayload>('owntracks', () => {
  const messages = owntracksMessages();
  assert.deepEqual(messages.map((m) => m._type), ['location', 'transition', 'waypoint', 'lwt']);
  const cases: ContractCase<OwntracksPayload>[] = [
    { name: 'the recorded location', input: { payload: JSON.stringify(messages[0]) }, expectFix: { lat: 48.856826, lon: 2.292713, time: 1706856298_000, altitude: 154, battery: 53, speed: 0 }, expectEvents: [] },
    { name: 'the recorded transition', input: { payload: JSON.stringify(messages[1]) }, expectEvents: ['transition'] },
    { name: 'the recorded waypoint', input: { payload: JSON.stringify(messages[2]) }, expectEvents: ['waypoint'] },
    { name: 'the recorded lwt', input: { payload: Buffer.from(JSON.stringify(messages[3])) }, expectEvents: ['lwt'] },
    { name: 'an encrypted location with the right key', input: { payload: JSON.stringify(encryptOwntracks({ ...messages[0], vel: 36, cog: 90, acc: 12, bs: 2 }, 'correct horse battery staple')), key: 'correct horse battery staple' }, expectFix: { lat: 48.856826, speed: 10, heading: 90, accuracy: 12, charging: true } },
    { name: 'a card', input: { payload: '{"_type":"card","name":"Jane","tid":"j1"}' }, expectEvents: ['card'] },
    { name: 'a location without tst', input: { payload: '{"_type":"location","lat":1,"lon":2}' }, refusedField: 'tst' },
    { name: 'a location whose tst overflows in milliseconds', input: { payload: '{"_type":"location","lat":0,"lon":0,"tst":-1.797693134862316e+305}' }, refusedField: 'tst' },
    { name: 'a location with text for lat', input: { payload: '{"_type":"location","lat":"north","lon":2,"tst":1}' }, refusedField: 'lat' },
    { name: 'a message without _type', input: { payload: '{"lat":1}' }, refusedField: '_type' },
  ];
  const value = fc.oneof(fc.double(), fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.constantFrom('1', 'NaN', '1e400'));
  const message = fc.record({
    _type: fc.oneof(fc.constantFrom('location', 'transition', 'waypoint', 'waypoints', 'lwt', 'card', 'status', 'encrypted', 'cmd'), fc.string()),
    lat: value, lon: value, tst: value, acc: value, alt: value, vel: value, cog: value, batt: value, bs: value, data: fc.oneof(value, fc.base64String()),
  }, { requiredKeys: [] });
  const arbitrary = fc.record({
    payload: fc.oneof(message.map((m) => JSON.stringify(m)), fc.json(), fc.string(), fc.uint8Array().map((b) => Buffer.from(b))),
    key: fc.option(fc.string(), { nil: undefined }),
  });
  return { decoder: new OwntracksDecoder(), cases, arbitrary };
});

describe('owntracks encryption', () => {
  const decoder = new OwntracksDecoder();
  const location = { _type: 'location', lat: 1, lon: 2, tst: 1700000000 };

  it('refuses an encrypted payload when the device has no key, as unauthenticated', () => {
    assert.throws(() => decoder.decode({ payload: JSON.stringify(encryptOwntracks(location, 'k')) }), (err: AppError) => err.code === 'unauthenticated' && /no OwnTracks key/.test(err.message));
  });

  it('refuses a payload encrypted with another key, as unauthenticated', () => {
    assert.throws(() => decoder.decode({ payload: JSON.stringify(encryptOwntracks(location, 'one')), key: 'other' }), (err: AppError) => err.code === 'unauthenticated' && /cannot be decrypted/.test(err.message));
  });

  it('derives the key as the apps do: passphrases that agree in their first 32 bytes are the same key', () => {
    const long = 'x'.repeat(32);
    const decoded = decoder.decode({ payload: JSON.stringify(encryptOwntracks(location, `${long}ignored`)), key: long });
    assert.equal(decoded.fixes[0]!.lat, 1);
  });
});
