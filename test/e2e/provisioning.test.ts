/** Customer provisioning, quotas, bulk files, suspend/delete/export/import, audit, custom domains. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { ADMIN_KEY, fix, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

describe('provisioning', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform();
  });
  after(() => p.stop());

  const provision = (body: unknown) => p.api('POST', '/provisioning/tenants', body);

  it('makes a customer ready for devices in one call, and a retried call makes no second one', async () => {
    const body = { name: 'Harbour Logistics', externalRef: 'crm-4711', owner: { email: 'Boss@Harbour.example', name: 'Hanna Boss' }, plan: { name: 'pilot', quotas: { devices: 2, retentionDays: 30 } }, starter: { group: 'Everyone', fencesAround: [9.99, 53.55], templates: true } };
    const first = await provision(body);
    assert.equal(first.status, 201);
    assert.equal(first.body.created, true);
    assert.equal(first.body.tenant.plan.quotas.devices, 2);
    assert.match(first.body.invitation.url, /^\/invite\/fmi_/);
    const again = await provision(body);
    assert.equal(again.status, 200);
    assert.equal(again.body.tenant.id, first.body.tenant.id);
    assert.equal(again.body.created, false);
    assert.equal((await p.api('GET', '/tenants')).body.filter((t: { slug: string }) => t.slug === 'harbour-logistics').length, 1);

    const id = first.body.tenant.id;
    // starter content and plan-derived settings
    const groups = (await p.api('GET', `/tenants/${id}/groups`)).body;
    assert.deepEqual(groups.map((g: { name: string }) => g.name), ['Everyone']);
    assert.deepEqual(groups[0].members.userIds, [first.body.owner.id]);
    assert.equal((await p.api('GET', `/tenants/${id}/fences`)).body.length, 2);
    assert.equal((await p.api('GET', `/tenants/${id}/settings/tracking`)).body.retentionDays, 30);
    assert.deepEqual((await p.api('GET', `/tenants/${id}/templates`)).body.map((t: { name: string }) => t.name).sort(), ['Are you safe?', 'Arrived', 'Evacuate']);

    // the owner sets a password through the invitation, once
    const accept = await p.api('POST', `/invitations/${first.body.invitation.token}/accept`, { password: 'harbour-2026' }, '');
    assert.equal(accept.status, 200);
    assert.equal((await p.api('POST', `/invitations/${first.body.invitation.token}/accept`, { password: 'harbour-2027' }, '')).status, 404);
    const login = await p.api('POST', '/auth/login', { tenant: 'harbour-logistics', email: 'boss@harbour.example', password: 'harbour-2026' }, '');
    assert.equal(login.status, 200);

    // a device is accepted right away
    const device = (await p.api('POST', `/tenants/${id}/devices`, { name: 'Van 1' }, login.body.token)).body;
    const { welcome, device: ws } = await TestDevice.connect(p.url, device.token);
    assert.equal(welcome.tenantId, id);
    ws.close();
  });

  it('refuses what the plan does not allow, saying which quota, and shows the usage', async () => {
    const t = (await provision({ name: 'Tiny', owner: { email: 'o@tiny.example', name: 'O', password: 'password-1' }, plan: { quotas: { devices: 2, users: 1 } } })).body.tenant;
    assert.equal((await p.api('POST', `/tenants/${t.id}/devices`, { name: 'a' })).status, 201);
    assert.equal((await p.api('POST', `/tenants/${t.id}/devices`, { name: 'b' })).status, 201);
    const third = await p.api('POST', `/tenants/${t.id}/devices`, { name: 'c' });
    assert.equal(third.status, 403);
    assert.equal(third.body.code, 'quota_exceeded');
    assert.match(third.body.detail, /allows 2 devices; this tenant has 2/);
    const user = await p.api('POST', `/tenants/${t.id}/users`, { email: 'x@tiny.example', name: 'X', role: 'member' });
    assert.equal(user.body.code, 'quota_exceeded', 'the owner is the one user allowed');
    const usage = (await p.api('GET', `/tenants/${t.id}/usage`)).body;
    assert.deepEqual({ devices: usage.devices, users: usage.users, quota: usage.plan.quotas.devices }, { devices: 2, users: 1, quota: 2 });
    assert.equal((await p.api('PATCH', `/tenants/${t.id}/plan`, { quotas: { devices: 3 } })).body.plan.quotas.devices, 3);
    assert.equal((await p.api('POST', `/tenants/${t.id}/devices`, { name: 'c' })).status, 201);
    assert.ok((await p.api('GET', '/provisioning/usage')).body.some((u: { slug: string; devices: number }) => u.slug === 'tiny' && u.devices === 3));
  });

  it('refuses the message past the plan’s daily quota', async () => {
    const t = (await provision({ name: 'Quiet Co', owner: { email: 'o@quiet.example', name: 'O', password: 'password-1' }, plan: { quotas: { messagesPerDay: 2 } } })).body.tenant;
    const d = (await p.api('POST', `/tenants/${t.id}/devices`, { name: 'a' })).body;
    const send = () => p.api('POST', `/tenants/${t.id}/messages`, { target: { deviceIds: [d.device.id] }, title: 'hi' });
    assert.equal((await send()).status, 201);
    assert.equal((await send()).status, 201);
    const third = await send();
    assert.equal(third.status, 403);
    assert.equal(third.body.code, 'quota_exceeded');
    assert.match(third.body.detail, /allows 2 messages a day/);
  });

  it('provisions from a CSV file with a dry run that changes nothing, and reports every row', async () => {
    const csv = [
      'kind,tenant,name,slug,externalRef,ownerEmail,email,role,userEmail,userEmails,devices',
      'tenant,,Alpine Rescue,alpine,crm-1,chief@alpine.example,,,,,50',
      'user,alpine,Ana,,,,ana@alpine.example,operator,,,',
      'device,alpine,"Ana\'s phone, red",,,,,,ana@alpine.example,,',
      'group,alpine,Team A,,,,,,,ana@alpine.example;chief@alpine.example,',
      'device,nowhere,Lost,,,,,,,,',
      'gadget,alpine,Thing,,,,,,,,',
    ].join('\n');
    const post = (dryRun: boolean) => fetch(`${p.url}/api/v1/provisioning/bulk?dryRun=${dryRun}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' }, body: csv }).then((r) => r.json() as Promise<any>);
    const dry = await post(true);
    assert.deepEqual(dry.results.map((r: { status: string }) => r.status), ['would-create', 'would-create', 'would-create', 'would-create', 'refused', 'refused']);
    assert.equal(dry.results[4].error.field, 'tenant');
    assert.equal(dry.results[5].error.field, 'kind');
    assert.equal((await p.api('GET', '/tenants')).body.some((t: { slug: string }) => t.slug === 'alpine'), false, 'a dry run creates nothing');
    const real = await post(false);
    assert.deepEqual(real.results.map((r: { status: string }) => r.status), ['created', 'created', 'created', 'created', 'refused', 'refused']);
    assert.match(real.results[2].token, /^fmd_/, 'a created device token is in the report, once');
    const tenant = (await p.api('GET', '/tenants')).body.find((t: { slug: string }) => t.slug === 'alpine');
    assert.equal((await p.api('GET', `/tenants/${tenant.id}/devices`)).body[0].name, "Ana's phone, red");
    assert.equal((await p.api('GET', `/tenants/${tenant.id}/groups`)).body[0].members.userIds.length, 2);
    const rerun = await post(false);
    assert.deepEqual(rerun.summary, { exists: 4, refused: 2 }, 'running the file again changes nothing');
  });

  it('suspends a tenant (devices refused, data kept) and resumes it', async () => {
    const t = (await provision({ name: 'Pause Co', owner: { email: 'o@pause.example', name: 'O', password: 'password-1' } })).body.tenant;
    const d = (await p.api('POST', `/tenants/${t.id}/devices`, { name: 'x' })).body;
    await p.api('POST', `/tenants/${t.id}/suspend`);
    const refused = await TestDevice.open(p.url);
    refused.send({ type: 'hello', token: d.token });
    assert.equal((await refused.next()).code, 'tenant_suspended');
    assert.equal((await p.api('GET', `/tenants/${t.id}/devices`)).body.length, 1, 'data kept');
    await p.api('POST', `/tenants/${t.id}/resume`);
    (await TestDevice.connect(p.url, d.token)).device.close();
  });

  it('deletes a tenant after exporting it, leaves no row of it anywhere, and imports it into another deployment', async () => {
    const made = (await provision({ name: 'Gone Soon', owner: { email: 'o@gone.example', name: 'O', password: 'password-1' }, starter: { group: 'All', fencesAround: [13.4, 52.5] } })).body;
    const id = made.tenant.id;
    const d = (await p.api('POST', `/tenants/${id}/devices`, { name: 'phone' })).body;
    const { device } = await TestDevice.connect(p.url, d.token);
    await device.request({ type: 'position', id: 'p', fix: fix(13.4, 52.5, Date.now() - 5000, { accuracy: 5 }) });
    await p.api('POST', `/tenants/${id}/messages`, { target: { deviceIds: [d.device.id] }, title: 'hello' });
    device.close();
    await device.waitClose();
    await p.bus.drain();
    const removed = await p.api('DELETE', `/tenants/${id}`);
    assert.equal(removed.status, 200);
    const doc = removed.body;
    assert.equal(doc.format, 'followme-tenant-export/1');
    assert.equal(doc.services.tracker.positions.length, 1);
    assert.equal(doc.services.geofence.fences.length, 2);
    assert.equal(doc.services.notification.messages.length, 1);
    assert.equal((await p.api('GET', `/tenants/${id}`)).status, 404);
    await p.local.tracker!.flush();
    // nothing of it remains in any service's database
    for (const file of readdirSync(p.dataDir).filter((f) => f.endsWith('.db'))) {
      const db = new Database(join(p.dataDir, file), { readonly: true });
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]) {
        const columns = (db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string }[]).map((c) => c.name);
        const column = columns.includes('tenant_id') ? 'tenant_id' : name === 'tenants' ? 'id' : undefined;
        if (!column) continue;
        const { n } = db.prepare(`SELECT count(*) AS n FROM "${name}" WHERE "${column}" = ?`).get(id) as { n: number };
        assert.equal(n, 0, `${file}: ${name} still has ${n} rows of the tenant`);
      }
      db.close();
    }
    const platformLog = (await p.api('GET', '/audit?limit=5')).body;
    assert.ok(platformLog.some((e: { action: string; target: string; tenantId: null }) => e.action === 'DELETE /tenants/:tenantId' && e.target === id && e.tenantId === null));

    // another deployment takes the export; the device's token works there
    const other = await startTestPlatform();
    try {
      const imported = await other.api('POST', '/tenants/import', doc);
      assert.equal(imported.status, 201);
      assert.equal(imported.body.id, id);
      assert.equal((await other.api('GET', `/tenants/${id}/devices/${d.device.id}/positions`)).body.length, 1);
      assert.equal((await other.api('GET', `/tenants/${id}/fences`)).body.length, 2);
      assert.equal((await other.api('POST', '/tenants/import', doc)).status, 409, 'refused when it exists');
      const { welcome, device: again } = await TestDevice.connect(other.url, d.token);
      assert.equal(welcome.deviceId, d.device.id);
      again.close();
    } finally {
      await other.stop();
    }
  });

  it('records who did what, when and from where; tenant admins see their tenant, the platform owner all', async () => {
    const made = (await provision({ name: 'Audit Me', owner: { email: 'o@audit.example', name: 'Olga', password: 'password-1' } })).body;
    const id = made.tenant.id;
    const owner = (await p.api('POST', '/auth/login', { tenant: 'audit-me', email: 'o@audit.example', password: 'password-1' }, '')).body.token;
    const dev = (await p.api('POST', `/tenants/${id}/devices`, { name: 'd1' }, owner)).body;
    const log = (await p.api('GET', `/tenants/${id}/audit`, undefined, owner)).body;
    const entry = log.find((e: { action: string }) => e.action === 'POST /tenants/:tenantId/devices');
    assert.equal(entry.actor.kind, 'user');
    assert.equal(entry.actor.userId, made.owner.id);
    assert.equal(entry.ip, '127.0.0.1');
    assert.ok(Math.abs(entry.at - Date.now()) < 10_000);
    assert.equal(dev.device.id.startsWith('dev_'), true);
    const platform = (await p.api('GET', '/audit?limit=1000')).body;
    assert.ok(platform.some((e: { action: string; actor: { kind: string } }) => e.action === 'POST /provisioning/tenants' && e.actor.kind === 'admin'));
    assert.equal((await p.api('GET', '/audit', undefined, owner)).status, 403);
  });
});

describe('white-label and custom domains', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform();
  });
  after(() => p.stop());

  // fetch may not set Host; node:http does
  const withHost = (path: string, host: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    new Promise<{ status: number; text: () => Promise<string>; json: () => Promise<unknown> }>((resolve, reject) => {
      const request = httpRequest(`${p.url}${path}`, { method: init.method ?? 'GET', headers: { ...(init.headers ?? {}), host } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: async () => body, json: async () => JSON.parse(body) as unknown }));
      });
      request.on('error', reject);
      request.end(init.body);
    });

  it("serves a tenant's branding and login on its own domain, and a neutral page on unknown hosts", async () => {
    const t = (await p.api('POST', '/provisioning/tenants', { name: 'Blue Fleet', owner: { email: 'o@blue.example', name: 'O', password: 'password-1' }, branding: { productName: 'Blue Tracker', primaryColor: '#0033AA' } })).body.tenant;
    assert.equal((await p.api('POST', `/tenants/${t.id}/domains`, { host: 'track.blue.example' })).status, 201);
    assert.equal((await p.api('POST', `/tenants/${t.id}/domains`, { host: 'https://x' })).body.errors[0].field, 'host');
    const branded = (await (await withHost('/api/v1/branding', 'track.blue.example')).json()) as any;
    assert.deepEqual(branded.tenant, { slug: 'blue-fleet', name: 'Blue Fleet' });
    assert.equal(branded.branding.productName, 'Blue Tracker');
    assert.equal(branded.branding.primaryColor, '#0033aa');
    const platform = (await (await fetch(`${p.url}/api/v1/branding`)).json()) as any;
    assert.equal(platform.tenant, null);
    assert.equal(platform.branding.productName, 'Follow Me');
    const login = await withHost('/api/v1/auth/login', 'track.blue.example', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'o@blue.example', password: 'password-1' }) });
    assert.equal(login.status, 200, 'no tenant needed on its own domain');
    const unknown = await withHost('/', 'evil.example');
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /Nothing here/);
    assert.doesNotMatch(await (await withHost('/app/', 'evil.example')).text(), /Blue/);
    assert.equal((await withHost('/healthz', 'evil.example')).status, 200, 'health answers on any host');
    const bad = await p.api('PATCH', `/tenants/${t.id}/branding`, { primaryColor: 'blue' });
    assert.equal(bad.body.errors[0].field, 'branding.primaryColor');
  });
});
