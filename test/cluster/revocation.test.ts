/**
 * A device connected to one edge process loses access through another process: its token is
 * rotated through the api of the front process (client, geofence, notification, edge, api), and the
 * edge it is connected to (a process of its own, without the client role) closes the session at once. `client.changed` is an ephemeral
 * subscription, so every edge process hears it. Real processes on the local NATS and PostgreSQL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceReachable, TestDevice } from '../helpers.js';
import { Cluster, type Proc } from '../support/cluster.js';

const up = (await serviceReachable('NATS', 4222)) && (await serviceReachable('PostgreSQL', 5432));

describe('revoking a device in a cluster', { skip: !up && 'NATS or PostgreSQL is not reachable', timeout: 60_000 }, () => {
  const cluster = new Cluster('revoke');
  let edge: Proc;
  let failed = false;

  before(async () => {
    const migrated = cluster.migrate();
    assert.equal(migrated.status, 0, migrated.output);
    await cluster.start('front', 'client,geofence,notification,edge,api');
    edge = await cluster.start('edge', 'edge');
    // a hello asks the notification service for pending messages: wait until it works on every partition
    await cluster.balanced();
  });
  after(async () => {
    await cluster.destroy(failed);
    if (failed) console.log(`# cluster logs kept in ${cluster.logDir}`);
  });

  it('closes the session on another edge process when the token is rotated through the api process', async () => {
    try {
      const tenant = (await cluster.api('POST', '/tenants', { name: 'Revoke' })).body;
      const made = (await cluster.api('POST', `/tenants/${tenant.id}/devices`, { name: 'phone' })).body;
      const { device: old } = await TestDevice.connect(edge.url, made.token);
      const rotated = await cluster.api('POST', `/tenants/${tenant.id}/devices/${made.device.id}/token`);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      const error = await old.next((f) => f.type === 'error', 10_000);
      assert.equal(error.code, 'unauthenticated');
      assert.deepEqual(await old.waitClose(), { code: 4401, reason: 'not authenticated' });
      // the new token says hello on the same edge and stays
      const { device: renewed } = await TestDevice.connect(edge.url, rotated.body.token);
      const sent = await cluster.api('POST', `/tenants/${tenant.id}/messages`, { target: { deviceIds: [made.device.id] }, title: 'still here?' });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      assert.equal((await renewed.next((f) => f.type === 'message', 15_000)).title, 'still here?');
      assert.equal(renewed.closed, undefined);
      // a tenant's suspension closes its sessions on every edge too
      const suspended = await cluster.api('POST', `/tenants/${tenant.id}/suspend`);
      assert.equal(suspended.status, 200);
      assert.equal((await renewed.next((f) => f.type === 'error', 10_000)).code, 'tenant_suspended');
      assert.deepEqual(await renewed.waitClose(), { code: 4403, reason: 'tenant suspended' });
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
