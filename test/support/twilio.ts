/**
 * A stand-in for Twilio's Programmable Messaging REST API on loopback, checking requests as Twilio
 * documents them: HTTP Basic with the account SID and auth token, form-encoded To, From, Body on
 * POST /2010-04-01/Accounts/{AccountSid}/Messages.json (201 with the Message resource), and the
 * message list on GET of the same path (To and From filters, PageSize, newest first, paged through
 * next_page_uri). It keeps what it accepted, so a test can count what a person would have received,
 * and it can lose an answer or a request to play the failures the outbox must survive.
 */
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startReceiver, type Recorded } from './receivers.js';

export const TWILIO = { accountSid: 'ACtest0001', authToken: 'secret-token', from: '+15005550006' };

/** The platform's environment for sending SMS through this fake Twilio. */
export const twilioEnv = (twilio: { url: string }) => ({ FOLLOWME_SMS_PROVIDER: 'twilio', FOLLOWME_TWILIO_BASE_URL: twilio.url, FOLLOWME_TWILIO_ACCOUNT_SID: TWILIO.accountSid, FOLLOWME_TWILIO_AUTH_TOKEN: TWILIO.authToken, FOLLOWME_TWILIO_FROM: TWILIO.from });

/** A number Twilio refuses with error 21211 (Twilio's own magic test number). */
export const INVALID_NUMBER = '+15005550001';

export interface TwilioMessage {
  sid: string;
  account_sid: string;
  to: string;
  from: string;
  body: string;
  status: string;
  direction: 'outbound-api';
  date_created: string;
  date_sent: string | null;
  uri: string;
}

export interface FakeTwilio {
  url: string;
  requests: Recorded[];
  /** Every message Twilio accepted, oldest first. */
  messages: TwilioMessage[];
  /** The next text to this number is stored, and the connection is cut before the answer (or `then` runs instead of answering). */
  loseAnswer(to: string, then?: () => void): void;
  /** The next text to this number is lost on the way: the connection is cut, nothing is stored. */
  loseRequest(to: string): void;
  /** Every text to this number is stored and never answered (the caller times out), until close. */
  hang(to: string): void;
  /** The message list answers 503 (error 20500) while set, so a lost answer cannot be looked up. */
  listUnavailable(on: boolean): void;
  close(): Promise<void>;
}

const MESSAGES = `/2010-04-01/Accounts/${TWILIO.accountSid}/Messages.json`;

export async function startFakeTwilio(): Promise<FakeTwilio> {
  const messages: TwilioMessage[] = [];
  const lostAnswers = new Map<string, (() => void) | undefined>();
  const lostRequests = new Set<string>();
  const hanging = new Set<string>();
  const held: ServerResponse[] = [];
  let listDown = false;
  const fail = (res: ServerResponse, status: number, code: number, message: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
  const receiver = await startReceiver((req, res) => {
    const [path, search = ''] = req.url.split('?');
    if (req.headers.authorization !== `Basic ${Buffer.from(`${TWILIO.accountSid}:${TWILIO.authToken}`).toString('base64')}`) return fail(res, 401, 20003, 'Authenticate');
    if (path !== MESSAGES) return fail(res, 404, 20404, `The requested resource ${path} was not found`);
    if (req.method === 'GET') {
      if (listDown) return fail(res, 503, 20500, 'Service Unavailable');
      const query = new URLSearchParams(search);
      const pageSize = Number(query.get('PageSize') ?? 50);
      const page = Number(query.get('Page') ?? 0);
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) return fail(res, 400, 20001, 'PageSize must be from 1 to 1000');
      const matching = messages.filter((m) => (!query.has('To') || m.to === query.get('To')) && (!query.has('From') || m.from === query.get('From'))).reverse();
      const slice = matching.slice(page * pageSize, (page + 1) * pageSize);
      const pageUri = (n: number) => {
        const q = new URLSearchParams(query);
        q.set('Page', String(n));
        q.set('PageToken', `PA${n}`);
        return `${MESSAGES}?${q.toString()}`;
      };
      const more = (page + 1) * pageSize < matching.length;
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ messages: slice, page, page_size: pageSize, first_page_uri: pageUri(0), previous_page_uri: page > 0 ? pageUri(page - 1) : null, next_page_uri: more ? pageUri(page + 1) : null, uri: req.url, start: page * pageSize, end: page * pageSize + slice.length - 1 }));
    }
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-www-form-urlencoded') return fail(res, 400, 20001, 'POST a form');
    const form = new URLSearchParams(req.body.toString());
    const to = form.get('To');
    const body = form.get('Body');
    if (!to || !body) return fail(res, 400, 21604, "A 'To' phone number and a 'Body' are required.");
    if (form.get('From') !== TWILIO.from) return fail(res, 400, 21606, `The From phone number ${form.get('From')} is not a valid, SMS-capable inbound phone number for your account.`);
    if (to === INVALID_NUMBER) return fail(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (lostRequests.delete(to)) return void res.socket?.destroy();
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const message: TwilioMessage = { sid, account_sid: TWILIO.accountSid, to, from: TWILIO.from, body, status: 'queued', direction: 'outbound-api', date_created: new Date().toUTCString().replace('GMT', '+0000'), date_sent: null, uri: `/2010-04-01/Accounts/${TWILIO.accountSid}/Messages/${sid}.json` };
    messages.push(message);
    if (hanging.has(to)) return void held.push(res);
    if (lostAnswers.has(to)) {
      const then = lostAnswers.get(to);
      lostAnswers.delete(to);
      if (then) return then();
      return void res.socket?.destroy();
    }
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(message));
  });
  return {
    url: receiver.url,
    requests: receiver.requests,
    messages,
    loseAnswer: (to, then) => lostAnswers.set(to, then),
    loseRequest: (to) => lostRequests.add(to),
    hang: (to) => hanging.add(to),
    listUnavailable: (on) => {
      listDown = on;
    },
    close: async () => {
      for (const res of held.splice(0)) res.socket?.destroy();
      await receiver.close();
    },
  };
}
