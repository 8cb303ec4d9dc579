/**
 * Notification channels end to end through the API, each against a real local endpoint: an SMTP
 * server, a webhook receiver that checks the signature, a push service that checks the VAPID JWT
 * and decrypts the payload, and a stand-in for Twilio's REST API that checks the request.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createECDH, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';
import { startPlatformProcess, type PlatformProcess } from '../support/process.js';
import { decryptPush, startReceiver, startSmtp } from '../support/receivers.js';
import { startFakeTwilio, twilioEnv, TWILIO, type FakeTwilio } from '../support/twilio.js';
import { smsReference } from '../../src/services/notification/channels/sms.js';

const FAST = { FOLLOWME_OUTBOX_POLL_MS: '20', FOLLOWME_OUTBOX_RETRY_MS: '40', FOLLOWME_NOTIFICATION_SWEEP_MS: '50' };


describe('notification channels', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let twilio: FakeTwilio;
  let as: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  let person: { id: string; email: string; deviceId: string; token: string };

  before(async () => {
    smtp = await startSmtp();
    twilio = await startFakeTwilio();
    p = await startTestPlatform({
      ...FAST,
      ...twilioEnv(twilio),
      FOLLOWME_SMTP_URL: smtp.url,
      FOLLOWME_SMTP_FROM: 'Alerts <alerts@acme.test>',
      FOLLOWME_VAPID_SUBJECT: 'mailto:ops@acme.test',
    });
    t = await seedTenant(p);
    as = (method, path, body) => p.api(method, `/tenants/${t.tenant.id}${path}`, body, t.operatorToken);
    const user = (await p.api('POST', `/tenants/${t.tenant.id}/users`, { email: 'mia@acme.test', name: 'Mia Member', role: 'member', password: 'password-1' })).body;
    const device = (await p.api('POST', `/tenants/${t.tenant.id}/devices`, { name: 'mia-phone', userId: user.id })).body;
    const login = (await p.api('POST', '/auth/login', { tenant: t.tenant.slug, email: 'mia@acme.test', password: 'password-1' }, '')).body;
    person = { id: user.id, email: user.email, deviceId: device.device.id, token: login.token };
  });
  after(async () => {
    await p.stop();
    await smtp.close();
    await twilio.close();
  });

  it('e-mails the people who carry the targeted devices through a real SMTP server, once per person', async () => {
    const sent = await as('POST', '/messages', { target: { deviceIds: [person.deviceId], userIds: [person.id] }, title: 'Gas leak in hall B', body: 'Leave through exit 3.', priority: 'critical', options: ['Out', 'Need help'], channels: ['app', 'email'] });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.deepEqual(sent.body.channels, ['app', 'email']);
    const mail = await eventually(() => smtp.mails.find((m) => m.raw.includes('Gas leak')), 5000, 'mail');
    assert.deepEqual(mail.to, ['mia@acme.test']);
    assert.equal(mail.from, 'alerts@acme.test');
    assert.match(mail.raw, /^Subject: \[CRITICAL\] Gas leak in hall B/m);
    assert.match(mail.raw, /Leave through exit 3\./);
    assert.match(mail.raw, /Out \/ Need help/);
    const email = await eventually(async () => ((await as('GET', `/messages/${sent.body.id}/deliveries`)).body as any[]).find((d) => d.channel === 'email' && d.state === 'sent'), 5000, 'email sent');
    assert.equal(email.recipient, person.id);
    assert.equal(email.attempts, 1);
    assert.ok(email.sentAt >= email.queuedAt);
    assert.match(mail.raw, new RegExp(`^Message-ID: <${email.id}@followme>`, 'mi'), 'the outbox id is the Message-ID, so a repeat is recognisable');
    assert.equal(smtp.mails.filter((m) => m.raw.includes('Gas leak')).length, 1, 'a person named twice gets one mail');
    const message = (await as('GET', `/messages/${sent.body.id}`)).body;
    assert.deepEqual(message.channelCounts, { email: { sent: 1 } });
    assert.equal(message.recipients, 1);
    // white-label: with a sender in the tenant's branding, its mails come from there
    assert.equal((await p.api('PATCH', `/tenants/${t.tenant.id}/branding`, { emailFrom: 'Acme Alerts <alerts@mail.acme.example>' })).status, 200);
    await as('POST', '/messages', { target: { userIds: [person.id] }, title: 'Branded sender', channels: ['email'] });
    const branded = await eventually(() => smtp.mails.find((m) => m.raw.includes('Branded sender')), 5000, 'branded mail');
    assert.equal(branded.from, 'alerts@mail.acme.example');
  });

  it('signs webhook posts with HMAC-SHA256 over timestamp and body, and retries with back-off until the receiver takes it', async () => {
    let answers = [503, 500];
    const hook = await startReceiver((_req, res) => res.writeHead(answers.shift() ?? 204).end());
    try {
      const settings = await p.api('PUT', `/tenants/${t.tenant.id}/notification-settings`, { webhookUrl: `${hook.url}/hooks/followme` });
      assert.equal(settings.status, 200, JSON.stringify(settings.body));
      const secret = settings.body.webhookSecret as string;
      assert.match(secret, /^whsec_/);
      assert.equal((await as('GET', '/notification-settings')).body.webhookSecret, undefined, 'the secret is shown once');
      const sent = await as('POST', '/messages', { target: { deviceIds: [t.devices[0]!.device.id] }, title: 'Storm warning', channels: ['app', 'webhook'] });
      const delivery = await eventually(async () => ((await as('GET', `/messages/${sent.body.id}/deliveries`)).body as any[]).find((d) => d.channel === 'webhook' && d.state === 'delivered'), 5000, 'webhook delivered');
      assert.equal(delivery.attempts, 3);
      assert.equal(hook.requests.length, 3);
      for (const req of hook.requests) {
        assert.equal(req.url, '/hooks/followme');
        assert.equal(req.headers['content-type'], 'application/json');
        assert.equal(req.headers['x-followme-delivery'], delivery.id, 'the same delivery id on every attempt');
        const [, ts, sig] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['x-followme-signature']))!;
        const expected = createHmac('sha256', secret).update(`${ts}.${req.body.toString()}`).digest();
        assert.ok(timingSafeEqual(expected, Buffer.from(sig!, 'hex')), 'signature verifies');
        assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 30, 'timestamp is now');
        const body = JSON.parse(req.body.toString());
        assert.equal(body.message.title, 'Storm warning');
        assert.equal(body.deliveryId, delivery.id);
      }
    } finally {
      answers = [];
      await hook.close();
      await p.api('PUT', `/tenants/${t.tenant.id}/notification-settings`, { webhookUrl: null });
    }
  });

  it("texts through Twilio's Messages API as documented, and fails a refused number at once without retrying", async () => {
    const other = (await p.api('POST', `/tenants/${t.tenant.id}/users`, { email: 'bad@acme.test', name: 'Bad Number', role: 'member' })).body;
    assert.equal((await p.api('PUT', `/tenants/${t.tenant.id}/users/${person.id}/phone`, { phone: '+4915112345678' })).status, 200);
    assert.equal((await p.api('PUT', `/tenants/${t.tenant.id}/users/${other.id}/phone`, { phone: '+15005550001' })).status, 200);
    const bad = await p.api('PUT', `/tenants/${t.tenant.id}/users/${other.id}/phone`, { phone: '0151 123' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].field, 'phone');
    const sent = await as('POST', '/messages', { target: { userIds: [person.id, other.id] }, title: 'Shift starts at 6', channels: ['sms'] });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const deliveries = await eventually(async () => {
      const list = ((await as('GET', `/messages/${sent.body.id}/deliveries`)).body as any[]).filter((d) => d.channel === 'sms');
      return list.length === 2 && list.every((d) => d.state !== 'queued') ? list : undefined;
    }, 5000, 'sms settled');
    const good = deliveries.find((d) => d.recipient === person.id);
    const refused = deliveries.find((d) => d.recipient === other.id);
    assert.equal(good.state, 'sent');
    assert.equal(refused.state, 'failed');
    assert.equal(refused.attempts, 1, 'a 400 is not retried');
    assert.match(refused.lastError, /Twilio answered 400 \(error 21211\)/);
    const texts = twilio.requests.map((r) => new URLSearchParams(r.body.toString()));
    const text = texts.find((f) => f.get('To') === '+4915112345678')!;
    assert.equal(text.get('Body'), `Shift starts at 6\n${smsReference(good.id)}`, 'the text ends with its reference, so a lost answer can be looked up');
    assert.match(smsReference(good.id), /^Ref [2-9A-HJ-NP-Z]{6}$/);
  });

  it('looks a text up at Twilio before sending it again when the answer to the first attempt was lost, and sends it again when the request was', async () => {
    const answerLost = '+4915100000001';
    const requestLost = '+4915100000002';
    const users = [];
    for (const [i, phone] of [answerLost, requestLost].entries()) {
      const user = (await p.api('POST', `/tenants/${t.tenant.id}/users`, { email: `lost${i}@acme.test`, name: `Lost ${i}`, role: 'member' })).body;
      assert.equal((await p.api('PUT', `/tenants/${t.tenant.id}/users/${user.id}/phone`, { phone })).status, 200);
      users.push(user);
    }
    twilio.loseAnswer(answerLost); // Twilio stores the text, the connection breaks before its answer
    twilio.loseRequest(requestLost); // the connection breaks before Twilio gets the text
    const before = twilio.requests.length;
    const sent = await as('POST', '/messages', { target: { userIds: users.map((u) => u.id) }, title: 'Gate 4 is closed', channels: ['sms'] });
    const deliveries = await eventually(async () => {
      const list = ((await as('GET', `/messages/${sent.body.id}/deliveries`)).body as any[]).filter((d) => d.channel === 'sms');
      return list.length === 2 && list.every((d) => d.state === 'sent') ? list : undefined;
    }, 5000, 'both texts sent');
    for (const d of deliveries) assert.equal(d.attempts, 2, 'one attempt with the answer or request lost, one more');
    const texts = (to: string) => twilio.messages.filter((m) => m.to === to && m.body.startsWith('Gate 4 is closed'));
    assert.equal(texts(answerLost).length, 1, 'the text that reached Twilio was found in its message list, not sent again');
    assert.equal(texts(requestLost).length, 1, 'the text that never reached Twilio was sent on the second attempt');
    const calls = twilio.requests.slice(before).map((r) => `${r.method} ${new URLSearchParams(r.url.split('?')[1] ?? '').get('To') ?? new URLSearchParams(r.body.toString()).get('To')}`);
    assert.deepEqual(calls.filter((c) => c.endsWith(answerLost)), [`POST ${answerLost}`, `GET ${answerLost}`]);
    assert.deepEqual(calls.filter((c) => c.endsWith(requestLost)), [`POST ${requestLost}`, `GET ${requestLost}`, `POST ${requestLost}`]);
    const list = twilio.requests.slice(before).find((r) => r.method === 'GET')!;
    assert.match(list.url, /^\/2010-04-01\/Accounts\/ACtest0001\/Messages\.json\?/);
    assert.equal(new URLSearchParams(list.url.split('?')[1]).get('From'), TWILIO.from);
  });

  it("pushes an encrypted, VAPID-signed notification to a member's browser subscription", async () => {
    const receiver = createECDH('prime256v1');
    receiver.generateKeys();
    const authSecret = randomBytes(16);
    const push = await startReceiver((_req, res) => res.writeHead(201).end());
    try {
      const key = await p.api('GET', `/tenants/${t.tenant.id}/push/vapid-public-key`, undefined, person.token);
      assert.equal(key.status, 200);
      const subscription = { endpoint: `${push.url}/push/v2/abc123`, expirationTime: null, keys: { p256dh: receiver.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') } };
      const created = await p.api('POST', `/tenants/${t.tenant.id}/me/push-subscriptions`, subscription, person.token);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const sent = await as('POST', '/messages', { target: { userIds: [person.id] }, title: 'Bus leaves in 10 minutes', priority: 'high', channels: ['push'] });
      const request = await eventually(() => push.requests[0], 5000, 'push request');
      assert.equal(request.method, 'POST');
      assert.equal(request.url, '/push/v2/abc123');
      assert.equal(request.headers['content-encoding'], 'aes128gcm');
      assert.equal(request.headers.urgency, 'high');
      assert.ok(Number(request.headers.ttl) > 0);
      assert.match(String(request.headers.topic), /^[A-Za-z0-9_-]{1,32}$/);
      const [, jwt, k] = /^vapid t=([^,]+), k=(\S+)$/.exec(String(request.headers.authorization))!;
      assert.equal(k, key.body.publicKey, 'signed with the key the app subscribed with');
      const raw = Buffer.from(k!, 'base64url');
      const publicKey = await importJWK({ kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') }, 'ES256');
      const { payload } = await jwtVerify(jwt!, publicKey, { audience: push.url, algorithms: ['ES256'] });
      assert.equal(payload.sub, 'mailto:ops@acme.test');
      assert.ok(payload.exp! > Date.now() / 1000);
      const content = JSON.parse(decryptPush(request.body, receiver, authSecret));
      assert.equal(content.title, 'Bus leaves in 10 minutes');
      assert.equal(content.messageId, sent.body.id);
      await eventually(async () => ((await as('GET', `/messages/${sent.body.id}/deliveries`)).body as any[]).find((d) => d.channel === 'push' && d.state === 'sent'), 5000, 'push sent');
      // the key pair is kept: the next start answers the same public key
      assert.equal((await p.api('GET', `/tenants/${t.tenant.id}/push/vapid-public-key`, undefined, person.token)).body.publicKey, key.body.publicKey);
    } finally {
      await push.close();
    }
  });

  it('refuses a channel the deployment or tenant has not set up, naming it', async () => {
    const res = await as('POST', '/messages', { target: { deviceIds: [t.devices[0]!.device.id] }, title: 'x', channels: ['webhook'] });
    assert.equal(res.status, 400);
    assert.match(res.body.detail, /webhook: the tenant has no webhook URL/);
    const unknown = await as('POST', '/messages', { target: { deviceIds: [t.devices[0]!.device.id] }, title: 'x', channels: ['pigeon'] });
    assert.equal(unknown.status, 400);
  });

  it('expires deliveries nobody received when the message runs out of time', async () => {
    const sent = await as('POST', '/messages', { target: { deviceIds: [t.devices[1]!.device.id] }, title: 'Lunch is ready', ttlSeconds: 1 });
    const [d] = await eventually(async () => {
      const list = (await as('GET', `/messages/${sent.body.id}/deliveries`)).body as any[];
      return list[0]?.state === 'expired' ? list : undefined;
    }, 5000, 'expired');
    assert.ok(d.expiredAt >= sent.body.expiresAt);
    const { device, welcome } = await TestDevice.connect(p.url, t.devices[1]!.token);
    assert.equal(welcome.pending, 0, 'an expired message is not handed over');
    device.close();
  });
});

describe('the outbox across a restart', () => {
  it('after a crash between Twilio taking a text and the outbox recording it, the next process finds the text at Twilio and does not send it again', async () => {
    const twilio = await startFakeTwilio();
    const dataDir = mkdtempSync(join(tmpdir(), 'followme-sms-crash-'));
    const env = { ...FAST, ...twilioEnv(twilio), FOLLOWME_OUTBOX_LEASE_MS: '500' };
    // the first process is a real one, killed with SIGKILL: nothing of it runs after Twilio takes the text
    let first: PlatformProcess | undefined;
    let second: TestPlatform | undefined;
    try {
      first = await startPlatformProcess(env, dataDir);
      const call = first.api;
      const tenant = (await call('POST', '/tenants', { name: 'Crash Co' })).body;
      const user = (await call('POST', `/tenants/${tenant.id}/users`, { email: 'kim@crash.test', name: 'Kim', role: 'member' })).body;
      assert.equal((await call('PUT', `/tenants/${tenant.id}/users/${user.id}/phone`, { phone: '+4915100000009' })).status, 200);
      twilio.loseAnswer('+4915100000009', first.kill);
      const sent = await call('POST', `/tenants/${tenant.id}/messages`, { target: { userIds: [user.id] }, title: 'Evacuate building C', channels: ['sms'] });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      assert.equal(await first.exited, 'SIGKILL');
      assert.equal(twilio.messages.length, 1, 'Twilio took the text before the process died');

      second = await startTestPlatform(env, dataDir);
      const [delivery] = await eventually(async () => {
        const list = (await second!.api('GET', `/tenants/${tenant.id}/messages/${sent.body.id}/deliveries`)).body as any[];
        return list[0]?.state === 'sent' ? list : undefined;
      }, 10_000, 'sent after the restart');
      assert.equal(delivery.attempts, 2, 'the claim of the dead process, and the reconciling one');
      assert.equal(twilio.messages.length, 1, 'the person got one text');
      assert.deepEqual(twilio.requests.map((r) => r.method), ['POST', 'GET'], 'the new process asked Twilio and did not send');
      const metrics = await (await fetch(`${second.url}/metrics`)).text();
      assert.match(metrics, /followme_notification_channel_sends_total\{channel="sms",outcome="reconciled"\} [1-9]/, 'counted (the registry is shared by every platform in this test process)');
    } finally {
      first?.kill();
      await second?.stop();
      await twilio.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('picks up unfinished sends after a restart and delivers each at most once', async () => {
    let up = false;
    const accepted = new Map<string, number>();
    const hook = await startReceiver((req, res) => {
      if (!up) return void res.writeHead(503).end();
      const id = String(req.headers['x-followme-delivery']);
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
      res.writeHead(200).end();
    });
    const first = await startTestPlatform({ ...FAST, FOLLOWME_OUTBOX_RETRY_MS: '300' });
    const dataDir = first.dataDir;
    const t = await seedTenant(first);
    await first.api('PUT', `/tenants/${t.tenant.id}/notification-settings`, { webhookUrl: hook.url });
    const sent = await first.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { deviceIds: [t.devices[0]!.device.id] }, title: 'Accepted before the crash', channels: ['webhook'] }, t.operatorToken);
    assert.equal(sent.status, 201);
    await eventually(() => hook.requests.length >= 1, 5000, 'first attempt');
    await first.close(); // the process stops with the send unfinished
    up = true;
    const second = await startTestPlatform(FAST, dataDir);
    try {
      const [d] = await eventually(async () => {
        const list = (await second.api('GET', `/tenants/${t.tenant.id}/messages/${sent.body.id}/deliveries`)).body as any[];
        return list[0]?.state === 'delivered' ? list : undefined;
      }, 5000, 'delivered after restart');
      assert.ok(d.attempts >= 2);
      await second.notification.settled();
      assert.deepEqual([...accepted.values()], [1], 'accepted exactly once');
    } finally {
      await second.stop();
      await hook.close();
    }
  });
});

describe('an SMS whose outcome nobody can know', () => {
  it('ends unknown, not failed, when Twilio took it without answering and its message list could not confirm it; one that the list confirms ends sent', async () => {
    const twilio = await startFakeTwilio();
    const p = await startTestPlatform({ ...FAST, ...twilioEnv(twilio), FOLLOWME_TWILIO_TIMEOUT_MS: '300', FOLLOWME_OUTBOX_MAX_ATTEMPTS: '2' });
    const live = new AbortController();
    try {
      const t = await seedTenant(p);
      const doubtful = '+4915100000021'; // Twilio stores the text and never answers; its list is down
      const confirmed = '+4915100000022'; // Twilio stores the text and never answers; its list works later
      const users = [];
      for (const [i, phone] of [doubtful, confirmed].entries()) {
        const user = (await p.api('POST', `/tenants/${t.tenant.id}/users`, { email: `unknown${i}@acme.test`, name: `Unknown ${i}`, role: 'member' })).body;
        assert.equal((await p.api('PUT', `/tenants/${t.tenant.id}/users/${user.id}/phone`, { phone })).status, 200);
        users.push(user);
      }
      const states: string[] = [];
      const stream = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/live?access_token=${t.operatorToken}`, { signal: live.signal });
      const reader = stream.body!.getReader();
      void (async () => {
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          for (const line of decoder.decode(value).split('\n')) {
            if (!line.startsWith('data: ') || !line.includes('"channel":"sms"')) continue;
            for (const u of (JSON.parse(line.slice(6)) as { updates: { channel: string; state: string }[] }).updates) if (u.channel === 'sms') states.push(u.state);
          }
        }
      })().catch(() => undefined);

      twilio.hang(doubtful);
      twilio.listUnavailable(true);
      const first = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { userIds: [users[0].id] }, title: 'Road 7 flooded', channels: ['sms'] }, t.operatorToken);
      assert.equal(first.status, 201, JSON.stringify(first.body));
      const [d] = await eventually(async () => {
        const list = ((await p.api('GET', `/tenants/${t.tenant.id}/messages/${first.body.id}/deliveries`, undefined, t.operatorToken)).body as any[]).filter((x) => x.channel === 'sms');
        return list[0]?.state === 'unknown' ? list : undefined;
      }, 10_000, 'sms given up');
      assert.equal(d.attempts, 2);
      assert.equal(d.failedAt, null, 'not failed: it may have arrived');
      assert.ok(d.unknownAt >= d.queuedAt);
      assert.match(d.lastError, /^outcome unknown after 2 attempts: Twilio answered 503 to the message list \(error 20500\)/, 'says why');
      assert.equal(twilio.messages.filter((m) => m.to === doubtful).length, 1, 'the text did reach Twilio');
      assert.deepEqual(twilio.requests.filter((r) => r.method === 'POST').length, 1, 'and was not sent again while unconfirmed');
      assert.deepEqual((await p.api('GET', `/tenants/${t.tenant.id}/messages/${first.body.id}`, undefined, t.operatorToken)).body.channelCounts, { sms: { unknown: 1 } });
      await eventually(() => states.includes('unknown'), 5000, 'unknown on the live stream');
      const metrics = await (await fetch(`${p.url}/metrics`)).text();
      assert.match(metrics, /followme_notification_channel_sends_total\{channel="sms",outcome="unknown"\} [1-9]/);

      // the operator learns from the person that it arrived, and records it, once, with who and why
      const settle = (id: string, body: unknown) => p.api('POST', `/tenants/${t.tenant.id}/deliveries/${id}/settle`, body, t.operatorToken);
      const wrong = await settle(d.id, { outcome: 'delivered' });
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.errors[0].field, 'outcome');
      assert.equal((await settle('obx_nothing', { outcome: 'sent' })).status, 404);
      const settled = await settle(d.id, { outcome: 'sent', note: 'she read it to me on the phone' });
      assert.equal(settled.status, 200, JSON.stringify(settled.body));
      assert.equal(settled.body.state, 'sent');
      assert.equal(settled.body.unknownAt, d.unknownAt, 'when it was given up stays on record');
      assert.ok(settled.body.sentAt >= d.queuedAt && settled.body.sentAt <= d.unknownAt, 'sent when the unanswered attempt went out');
      assert.deepEqual([settled.body.settled.name, settled.body.settled.note, settled.body.settled.by], ['Olga Operator', 'she read it to me on the phone', t.operator.id]);
      assert.deepEqual((await p.api('GET', `/tenants/${t.tenant.id}/messages/${first.body.id}`, undefined, t.operatorToken)).body.channelCounts, { sms: { sent: 1 } });
      await eventually(() => states.lastIndexOf('sent') > states.indexOf('unknown'), 5000, 'sent on the live stream after unknown');
      const again = await settle(d.id, { outcome: 'failed' });
      assert.equal(again.status, 409);
      assert.match(again.body.detail, /is sent, settled by Olga Operator at /);

      // the same lost answer, but the list works at the next attempt: found there, recorded as sent, not resent
      twilio.listUnavailable(false);
      twilio.hang(confirmed);
      const second = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { userIds: [users[1].id] }, title: 'Road 8 flooded', channels: ['sms'] }, t.operatorToken);
      const [s] = await eventually(async () => {
        const list = ((await p.api('GET', `/tenants/${t.tenant.id}/messages/${second.body.id}/deliveries`, undefined, t.operatorToken)).body as any[]).filter((x) => x.channel === 'sms');
        return list[0]?.state === 'sent' ? list : undefined;
      }, 10_000, 'sms reconciled');
      assert.equal(s.attempts, 2);
      assert.equal(s.unknownAt, null);
      assert.equal(s.settled, null);
      assert.equal((await p.api('POST', `/tenants/${t.tenant.id}/deliveries/${s.id}/settle`, { outcome: 'failed' }, t.operatorToken)).status, 409, 'only an unknown delivery can be settled');
      assert.equal(twilio.messages.filter((m) => m.to === confirmed).length, 1);
    } finally {
      live.abort();
      await p.stop();
      await twilio.close();
    }
  });
});
