/**
 * CAP 1.2: the minimal XML reader and the CAP mapping, with the thunderstorm and earthquake
 * examples of the CAP 1.2 specification (OASIS, Appendix A), kept in test/fixtures/cap.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AppError } from '../../src/core/errors.js';
import { readCap, writeCap } from '../../src/services/notification/cap.js';
import { parseXml, XmlError } from '../../src/services/notification/xml.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/cap/${name}`, import.meta.url), 'utf8');

function refuses(xml: string, field: string, reason: RegExp): void {
  assert.throws(() => readCap(xml), (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.errors[0]!.field, field);
    assert.match(e.errors[0]!.reason, reason);
    return true;
  });
}

describe('the XML reader', () => {
  it('reads elements, attributes with either quote, entities, character references, CDATA and comments', () => {
    const root = parseXml(`<?xml version="1.0"?>\n<!-- c --><a x = "1" y='&lt;2&gt;'><b>Tom &amp; Jerry &#233;&#x263A;</b><!-- skip --><c><![CDATA[<raw> & ]]></c><d/></a>`);
    assert.equal(root.name, 'a');
    assert.deepEqual(root.attributes, { x: '1', y: '<2>' });
    assert.equal(root.children[0]!.text, 'Tom & Jerry é☺');
    assert.equal(root.children[1]!.text, '<raw> & ');
    assert.equal(root.children[2]!.local, 'd');
  });

  it('keeps prefixes in the name and strips them in local', () => {
    const root = parseXml('<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2"><cap:identifier>x</cap:identifier></cap:alert>');
    assert.equal(root.local, 'alert');
    assert.equal(root.children[0]!.local, 'identifier');
  });

  it('refuses a DOCTYPE, mismatched tags, unknown entities and trailing content, naming the line', () => {
    assert.throws(() => parseXml('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'), (e: unknown) => e instanceof XmlError && /DOCTYPE is not accepted/.test(e.message));
    assert.throws(() => parseXml('<a>\n<b></c></a>'), (e: unknown) => e instanceof XmlError && /line 2: <\/c> closes <b>/.test(e.message));
    assert.throws(() => parseXml('<a>&nbsp;</a>'), /unknown entity &nbsp;/);
    assert.throws(() => parseXml('<a/><b/>'), /content after the root element/);
    assert.throws(() => parseXml('<a>'), /<a> is not closed/);
  });
});

describe('CAP 1.2', () => {
  it('reads the specification\'s thunderstorm warning: headline, description and instruction, priority, expiry, polygon as GeoJSON [lon, lat]', () => {
    const cap = readCap(fixture('thunderstorm.xml'));
    assert.equal(cap.identifier, 'KSTO1055887203');
    assert.equal(cap.sender, 'KSTO@NWS.NOAA.GOV');
    assert.equal(cap.title, 'SEVERE THUNDERSTORM WARNING');
    assert.match(cap.body, /^AT 254 PM PDT.*MOVING EAST AT 10 MPH\.\n\nTAKE COVER IN A SUBSTANTIAL SHELTER UNTIL THE STORM PASSES\.$/s);
    assert.equal(cap.priority, 'critical', 'Severe and Immediate');
    assert.equal(cap.expires, Date.parse('2003-06-17T23:00:00Z'));
    assert.deepEqual(cap.area, { geometry: { type: 'Polygon', coordinates: [[[-120.14, 38.47], [-119.95, 38.34], [-119.74, 38.52], [-119.89, 38.62], [-120.14, 38.47]]] } });
    assert.match(cap.areaDesc, /^EXTREME NORTH CENTRAL TUOLUMNE COUNTY/);
  });

  it("refuses the specification's earthquake update because its circle has radius 0 and so reaches nobody", () => {
    refuses(fixture('earthquake.xml'), 'alert.info.area[0].circle[0]', /radius 0 km encloses nobody/);
  });

  it('reads a circle as a Point with a radius in metres', () => {
    const cap = readCap(fixture('earthquake.xml').replace('32.9525,-115.5527 0', '32.9525,-115.5527 2.5'));
    assert.deepEqual(cap.area, { geometry: { type: 'Point', coordinates: [-115.5527, 32.9525] }, radius: 2500 });
    assert.equal(cap.priority, 'normal', 'Past and Minor');
  });

  it('refuses what is not a CAP 1.2 alert, a Cancel, and an alert without an area, saying what was expected', () => {
    refuses('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>', 'alert', /expected a CAP 1\.2 <alert xmlns="urn:oasis:names:tc:emergency:cap:1\.2">/);
    refuses(fixture('thunderstorm.xml').replace('<msgType>Alert</msgType>', '<msgType>Cancel</msgType>'), 'alert.msgType', /Cancel messages carry no alert/);
    refuses(fixture('thunderstorm.xml').replace(/<polygon>.*<\/polygon>/, ''), 'alert.info.area', /needs a <polygon> or <circle>/);
    refuses('<alert', 'body', /not well-formed XML/);
  });

  it('writes an alert that it reads back to the same title, body, priority and area', () => {
    const area = { geometry: { type: 'Polygon', coordinates: [[[13.40, 52.52], [13.41, 52.52], [13.41, 52.53], [13.40, 52.53], [13.40, 52.52]]] } };
    const xml = writeCap({ id: 'msg_1', tenantId: 'ten_1', title: 'Gas leak <hall B> & C', body: 'Leave now.', priority: 'critical', createdAt: Date.parse('2026-12-01T10:00:00.123Z'), expiresAt: Date.parse('2026-12-01T11:00:00Z'), areaDesc: 'Hall B', area });
    assert.match(xml, /<sent>2026-12-01T10:00:00\+00:00<\/sent>/, 'seconds precision and a numeric offset, as CAP requires');
    const back = readCap(xml);
    assert.equal(back.title, 'Gas leak <hall B> & C');
    assert.equal(back.body, 'Leave now.');
    assert.equal(back.priority, 'critical');
    assert.deepEqual(back.area, area);
    assert.equal(back.expires, Date.parse('2026-12-01T11:00:00Z'));
  });
});
