/**
 * CAP 1.2: the minimal XML reader and the CAP mapping, with the four examples of the CAP 1.2
 * specification (OASIS, Appendix A) and a real NOAA tsunami alert, kept verbatim in
 * test/fixtures/cap (sources in its README).
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
  const THUNDERSTORM = 'cap-1.2-appendix-a2-thunderstorm.xml';
  const EARTHQUAKE = 'cap-1.2-appendix-a3-earthquake.xml';
  const TSUNAMI = 'noaa-wcatwc-tsunami-cancellation-PAAQ-4-mg5a94.xml';

  it("reads the specification's thunderstorm warning (A.2): headline, description and instruction, priority, expiry, polygon as GeoJSON [lon, lat]", () => {
    const cap = readCap(fixture(THUNDERSTORM));
    assert.equal(cap.identifier, 'KSTO1055887203');
    assert.equal(cap.sender, 'KSTO@NWS.NOAA.GOV');
    assert.equal(cap.sent, '2003-06-17T14:57:00-07:00');
    assert.equal(cap.title, 'SEVERE THUNDERSTORM WARNING');
    assert.match(cap.body, /^AT 254 PM PDT\.\.\.NATIONAL WEATHER SERVICE DOPPLER RADAR INDICATED A SEVERE\s+THUNDERSTORM OVER SOUTH CENTRAL ALPINE COUNTY.*STORM\.\n\nTAKE COVER IN A SUBSTANTIAL SHELTER UNTIL THE STORM PASSES\.$/s);
    assert.equal(cap.priority, 'critical', 'Severe and Immediate');
    assert.equal(cap.expires, Date.parse('2003-06-17T23:00:00Z'));
    assert.deepEqual(cap.area, { geometry: { type: 'Polygon', coordinates: [[[-120.14, 38.47], [-119.95, 38.34], [-119.74, 38.52], [-119.89, 38.62], [-120.14, 38.47]]] } });
    assert.match(cap.areaDesc, /^EXTREME NORTH CENTRAL TUOLUMNE COUNTY IN CALIFORNIA, EXTREME NORTHEASTERN\s+CALAVERAS COUNTY/);
  });

  it('reads the circles of the earthquake (A.3) and the NOAA tsunami alert, and refuses them as message areas because their radius is 0', () => {
    refuses(fixture(EARTHQUAKE), 'alert.info.area[0].circle[0]', /radius 0 km marks a point and encloses nobody/);
    refuses(fixture(TSUNAMI), 'alert.info.area[0].circle[0]', /radius 0 km marks a point/);
    const quake = readCap(fixture(EARTHQUAKE).replace('32.9525,-115.5527 0', '32.9525,-115.5527 2.5'));
    assert.deepEqual(quake.area, { geometry: { type: 'Point', coordinates: [-115.5527, 32.9525] }, radius: 2500 });
    assert.equal(quake.priority, 'normal', 'Past and Minor');
    assert.equal(quake.title, 'EQ 3.4 Imperial County CA');
    const tsunami = readCap(fixture(TSUNAMI).replace('55.3,-134.9 0.0', '55.3,-134.9 150'));
    assert.deepEqual(tsunami.area, { geometry: { type: 'Point', coordinates: [-134.9, 55.3] }, radius: 150_000 });
    assert.equal(tsunami.sent, '2013-01-05T10:58:23-00:00');
    assert.equal(tsunami.expires, Date.parse('2013-01-05T10:58:23Z'), 'the "-00:00" form of UTC');
    assert.match(tsunami.body, /^The tsunami Warning is canceled .*Recommended Actions:/s);
  });

  it('refuses the alerts whose areas are only described (A.1) or given by geocode (A.4), saying why', () => {
    refuses(fixture('cap-1.2-appendix-a1-homeland-security.xml'), 'alert.info.area', /needs a <polygon> or <circle>: the area is whom the alert reaches$/);
    refuses(fixture('cap-1.2-appendix-a4-amber-alert.xml'), 'alert.info.area', /names its area only by geocode: SAME 006037/);
  });

  it('takes the first info block of a multilingual alert (A.4)', () => {
    const amber = fixture('cap-1.2-appendix-a4-amber-alert.xml').replace('<areaDesc>Los Angeles County</areaDesc>', '<areaDesc>Los Angeles County</areaDesc><polygon>34.8,-118.9 34.8,-117.6 33.7,-117.6 33.7,-118.9 34.8,-118.9</polygon>');
    const cap = readCap(amber);
    assert.equal(cap.title, 'Amber Alert in Los Angeles County');
    assert.match(cap.body, /^DATE\/TIME: 06\/11\/03, 1915 HRS\. VICTIM\(S\): KHAYRI DOE JR\. M\/B BLK\/BRO 3'0", 40/);
    assert.equal(cap.priority, 'critical');
  });

  it('refuses what is not a CAP 1.2 alert, a Cancel, a Test, an unclosed polygon and an alert without an area, saying what was expected', () => {
    refuses('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>', 'alert', /expected a CAP 1\.2 <alert xmlns="urn:oasis:names:tc:emergency:cap:1\.2">/);
    refuses(fixture(THUNDERSTORM).replace('<msgType>Alert</msgType>', '<msgType>Cancel</msgType>'), 'alert.msgType', /Cancel messages carry no alert/);
    refuses(fixture(THUNDERSTORM).replace('<status>Actual</status>', '<status>Test</status>'), 'alert.status', /a Test message is not actionable/);
    refuses(fixture(THUNDERSTORM).replace('38.62,-119.89 38.47,-120.14<', '38.62,-119.89 38.40,-120.14<'), 'alert.info.area[0].polygon[0]', /first and last points of a CAP polygon must be the same/);
    refuses(fixture(THUNDERSTORM).replace(/<polygon>.*<\/polygon>/, ''), 'alert.info.area', /needs a <polygon> or <circle>/);
    refuses('<alert', 'body', /not well-formed XML/);
    assert.match(readCap(fixture(THUNDERSTORM).replace('<status>Actual</status>', '<status>Exercise</status>')).title, /^\[Exercise\] SEVERE/);
  });

  it('writes an alert that it reads back to the same title, body, priority and area', () => {
    const area = { geometry: { type: 'Polygon', coordinates: [[[13.40, 52.52], [13.41, 52.52], [13.41, 52.53], [13.40, 52.53], [13.40, 52.52]]] } };
    const xml = writeCap({ id: 'msg_1', tenantId: 'ten_1', title: 'Gas leak <hall B> & C', body: 'Leave now.', priority: 'critical', createdAt: Date.parse('2026-12-01T10:00:00.123Z'), expiresAt: Date.parse('2026-12-01T11:00:00Z'), areaDesc: 'Hall B', area });
    assert.match(xml, /<sent>2026-12-01T10:00:00-00:00<\/sent>/, 'seconds precision, and UTC as "-00:00", as CAP 1.2 requires');
    const back = readCap(xml);
    assert.equal(back.title, 'Gas leak <hall B> & C');
    assert.equal(back.body, 'Leave now.');
    assert.equal(back.priority, 'critical');
    assert.deepEqual(back.area, area);
    assert.equal(back.expires, Date.parse('2026-12-01T11:00:00Z'));
  });

  it('exports what it imported from the specification and reads it back the same: polygon, circle, several polygons', () => {
    const sources = [
      fixture(THUNDERSTORM).replace('2003-06-17T16:00:00-07:00', '2003-06-17T16:00:00-00:00'),
      fixture(EARTHQUAKE).replace('32.9525,-115.5527 0', '32.9525,-115.5527 2.5'),
      fixture(THUNDERSTORM).replace(/(<polygon>.*<\/polygon>)/, '$1<polygon>38.1,-120.5 38.0,-120.3 38.2,-120.2 38.1,-120.5</polygon>'),
    ];
    for (const xml of sources) {
      const imported = readCap(xml);
      const exported = writeCap({ id: 'msg_x', tenantId: 'ten_x', title: imported.title, body: imported.body, priority: imported.priority, createdAt: Date.parse(imported.sent), expiresAt: imported.expires, areaDesc: imported.areaDesc, area: imported.area, references: `${imported.sender},${imported.identifier},${imported.sent}` });
      const again = readCap(exported);
      assert.deepEqual({ ...again, identifier: imported.identifier, sender: imported.sender, sent: imported.sent }, imported, exported);
      assert.equal(Date.parse(again.sent), Date.parse(imported.sent), 'the same instant');
      assert.match(exported, new RegExp(`<references>${imported.sender},${imported.identifier},${imported.sent.replace(/[+.]/g, '\\$&')}</references>`));
    }
  });
});
