/**
 * CAP 1.2 (OASIS Common Alerting Protocol) import and export. An alert's first `info` block
 * becomes a message (headline → title, description and instruction → body, urgency and severity →
 * priority, expires → lifetime) whose target is the union of its areas' polygons and circles
 * (CAP writes "lat,lon" pairs and circle radii in km; we turn them into GeoJSON [lon, lat] and metres).
 */
import { invalid } from '../../core/errors.js';
import type { Priority } from '../../core/types.js';
import { child, children, escapeXml, parseXml, XmlError, type XmlElement } from './xml.js';

export const CAP_NAMESPACE = 'urn:oasis:names:tc:emergency:cap:1.2';

export interface CapImport {
  identifier: string;
  sender: string;
  sent: string;
  title: string;
  body: string;
  priority: Priority;
  expires: number | null;
  areaDesc: string;
  /** GeoJSON Polygon / MultiPolygon, or Point with radius in metres. */
  area: { geometry: { type: 'Polygon' | 'MultiPolygon' | 'Point'; coordinates: unknown }; radius?: number };
}

/** Reads a CAP 1.2 alert; refusals name the element and say what was expected. */
export function readCap(xml: string): CapImport {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    if (err instanceof XmlError) throw invalid('body', `not well-formed XML: ${err.message}`);
    throw err;
  }
  if (root.local !== 'alert' || (root.attributes.xmlns ?? root.attributes[`xmlns:${root.name.split(':')[0]}`]) !== CAP_NAMESPACE) {
    throw invalid('alert', `expected a CAP 1.2 <alert xmlns="${CAP_NAMESPACE}">, got <${root.name}>`);
  }
  const text = (el: XmlElement, name: string, field: string, required = true): string => {
    const value = child(el, name)?.text.trim() ?? '';
    if (required && value === '') throw invalid(field, `<${name}> is required`);
    return value;
  };
  const identifier = text(root, 'identifier', 'alert.identifier');
  const sender = text(root, 'sender', 'alert.sender');
  const sent = text(root, 'sent', 'alert.sent');
  const status = text(root, 'status', 'alert.status');
  // CAP 1.2 §3.2.1: Test (disregard), Draft (not actionable) and System (network-internal) messages are not alerts to people
  if (status === 'Test' || status === 'Draft' || status === 'System') throw invalid('alert.status', `a ${status} message is not actionable by its recipients (CAP 1.2 status); import Actual or Exercise`);
  const msgType = text(root, 'msgType', 'alert.msgType');
  if (msgType === 'Cancel' || msgType === 'Ack' || msgType === 'Error') throw invalid('alert.msgType', `${msgType} messages carry no alert to send; import Alert or Update`);
  const info = child(root, 'info');
  if (!info) throw invalid('alert.info', 'an alert to send needs an <info> block');
  const headline = text(info, 'headline', 'alert.info.headline', false);
  const event = text(info, 'event', 'alert.info.event');
  const description = text(info, 'description', 'alert.info.description', false);
  const instruction = text(info, 'instruction', 'alert.info.instruction', false);
  const urgency = text(info, 'urgency', 'alert.info.urgency');
  const severity = text(info, 'severity', 'alert.info.severity');
  const expiresText = text(info, 'expires', 'alert.info.expires', false);
  const expires = expiresText ? Date.parse(expiresText) : null;
  if (expires !== null && Number.isNaN(expires)) throw invalid('alert.info.expires', `expected a date-time such as 2003-06-17T16:00:00-07:00, got ${JSON.stringify(expiresText)}`);

  const polygons: [number, number][][][] = [];
  const circles: { center: [number, number]; radius: number }[] = [];
  const descs: string[] = [];
  const geocodes: string[] = [];
  for (const [a, area] of children(info, 'area').entries()) {
    for (const g of children(area, 'geocode')) geocodes.push(`${child(g, 'valueName')?.text.trim() ?? ''} ${child(g, 'value')?.text.trim() ?? ''}`);
    descs.push(text(area, 'areaDesc', `alert.info.area[${a}].areaDesc`));
    for (const [p, polygon] of children(area, 'polygon').entries()) polygons.push([readPairs(polygon.text, `alert.info.area[${a}].polygon[${p}]`)]);
    for (const [c, circle] of children(area, 'circle').entries()) {
      const field = `alert.info.area[${a}].circle[${c}]`;
      const m = /^\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s+([\d.]+)\s*$/.exec(circle.text);
      if (!m) throw invalid(field, `expected "lat,lon radius-km", got ${JSON.stringify(circle.text.trim())}`);
      const radius = Number(m[3]) * 1000;
      // valid CAP (a point, such as an epicentre), but as a message area it reaches nobody
      if (!(radius > 0)) throw invalid(field, 'a circle of radius 0 km marks a point and encloses nobody; give a radius greater than 0');
      circles.push({ center: [Number(m[2]), Number(m[1])], radius });
    }
  }
  let area: CapImport['area'];
  if (polygons.length > 0) {
    if (circles.length > 0) throw invalid('alert.info.area', 'mixes polygons and circles; one message area is either polygons or one circle');
    area = polygons.length === 1 ? { geometry: { type: 'Polygon', coordinates: polygons[0] } } : { geometry: { type: 'MultiPolygon', coordinates: polygons } };
  } else if (circles.length === 1) {
    area = { geometry: { type: 'Point', coordinates: circles[0]!.center }, radius: circles[0]!.radius };
  } else if (circles.length > 1) {
    throw invalid('alert.info.area', 'has several circles; one message area is one circle');
  } else {
    const coded = geocodes.length > 0 ? ` (this one names its area only by geocode: ${geocodes.slice(0, 3).join(', ')}${geocodes.length > 3 ? ', …' : ''}, which is not resolved to a shape here)` : '';
    throw invalid('alert.info.area', `needs a <polygon> or <circle>: the area is whom the alert reaches${coded}`);
  }
  return {
    identifier,
    sender,
    sent,
    title: `${status === 'Exercise' ? '[Exercise] ' : ''}${headline || event}`.slice(0, 200),
    body: [description, instruction].filter(Boolean).join('\n\n').slice(0, 10_000),
    priority: priorityOf(urgency, severity),
    expires,
    areaDesc: descs.join('; '),
    area,
  };
}

/** "lat,lon lat,lon …" → a closed GeoJSON ring of [lon, lat]. */
function readPairs(value: string, field: string): [number, number][] {
  const pairs = value.trim().split(/\s+/).map((pair, i) => {
    const m = /^(-?[\d.]+),(-?[\d.]+)$/.exec(pair);
    if (!m) throw invalid(field, `point ${i + 1}: expected "lat,lon", got ${JSON.stringify(pair)}`);
    return [Number(m[2]), Number(m[1])] as [number, number];
  });
  if (pairs.length < 4) throw invalid(field, `a CAP polygon needs at least 4 points (the first repeated last), got ${pairs.length}`);
  const [first, last] = [pairs[0]!, pairs[pairs.length - 1]!];
  if (first[0] !== last[0] || first[1] !== last[1]) throw invalid(field, `the first and last points of a CAP polygon must be the same, got ${first[1]},${first[0]} and ${last[1]},${last[0]}`);
  return pairs;
}

/** Immediate/Expected and Extreme/Severe decide how loud the message is. */
function priorityOf(urgency: string, severity: string): Priority {
  if (severity === 'Extreme' || (severity === 'Severe' && urgency === 'Immediate')) return 'critical';
  if (severity === 'Severe' || urgency === 'Immediate') return 'high';
  return 'normal';
}

export interface CapExportInput {
  id: string;
  tenantId: string;
  title: string;
  body: string;
  priority: Priority;
  createdAt: number;
  expiresAt: number | null;
  areaDesc: string;
  area: { geometry: { type: string; coordinates: unknown }; radius?: number | undefined } | undefined;
  references?: string | undefined;
  link?: string | undefined;
}

/** A CAP 1.2 alert for a message. */
export function writeCap(m: CapExportInput): string {
  const [urgency, severity, certainty] = m.priority === 'critical' ? ['Immediate', 'Extreme', 'Observed'] : m.priority === 'high' ? ['Expected', 'Severe', 'Likely'] : ['Unknown', 'Minor', 'Unknown'];
  const el = (name: string, value: string, indent = '    ') => `${indent}<${name}>${escapeXml(value)}</${name}>\n`;
  let area = `    <area>\n${el('areaDesc', m.areaDesc || 'Recipients chosen by the sender', '      ')}`;
  const g = m.area?.geometry;
  const pair = (p: number[]) => `${p[1]},${p[0]}`;
  if (g?.type === 'Polygon') area += el('polygon', (g.coordinates as number[][][])[0]!.map(pair).join(' '), '      ');
  if (g?.type === 'MultiPolygon') for (const poly of g.coordinates as number[][][][]) area += el('polygon', poly[0]!.map(pair).join(' '), '      ');
  if (g?.type === 'Point') area += el('circle', `${pair(g.coordinates as number[])} ${(m.area!.radius ?? 0) / 1000}`, '      ');
  area += '    </area>\n';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="${CAP_NAMESPACE}">\n` +
    el('identifier', m.id, '  ') +
    el('sender', `followme@${m.tenantId}`, '  ') +
    el('sent', capTime(m.createdAt), '  ') +
    el('status', 'Actual', '  ') +
    el('msgType', 'Alert', '  ') +
    el('scope', 'Public', '  ') +
    (m.references ? el('references', m.references, '  ') : '') +
    '  <info>\n' +
    el('category', 'Safety') +
    el('event', m.title) +
    el('urgency', urgency!) +
    el('severity', severity!) +
    el('certainty', certainty!) +
    (m.expiresAt !== null ? el('expires', capTime(m.expiresAt)) : '') +
    el('senderName', 'Follow Me') +
    el('headline', m.title) +
    (m.body ? el('description', m.body) : '') +
    (m.link ? el('web', m.link) : '') +
    area +
    '  </info>\n</alert>\n'
  );
}

/** CAP times: seconds precision with a numeric offset; UTC is written "-00:00" ("Z" is not allowed, CAP 1.2 §3.3.2). */
function capTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', '-00:00');
}
