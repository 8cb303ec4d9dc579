/** The platform owner's CLI, run as a real process on a real data folder, then used by a real device. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestPlatform, TestDevice, type TestPlatform } from './helpers.js';

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'followme-cli-'));
const env = { ...process.env, FOLLOWME_DATA_DIR: dataDir, FOLLOWME_LOG_LEVEL: 'silent' };
const followme = async (...args: string[]) => run(process.execPath, ['dist/src/cli/followme.js', ...args], { env });

describe('followme CLI', () => {
  let platform: TestPlatform | undefined;
  after(async () => platform?.stop());

  it('creates a tenant, a user and a device, and the device token works against the server', async () => {
    const tenant = JSON.parse((await followme('tenant', 'create', 'Pizza', 'Express', '--json')).stdout);
    assert.equal(tenant.name, 'Pizza Express');
    assert.equal(tenant.slug, 'pizza-express');
    const user = JSON.parse((await followme('user', 'create', '--tenant', 'pizza-express', '--email', 'Boss@Pizza.test', '--name', 'Boss', '--role', 'owner', '--password', 'margherita', '--json')).stdout);
    assert.equal(user.email, 'boss@pizza.test');
    const created = JSON.parse((await followme('device', 'create', '--tenant', tenant.id, 'Scooter 7', '--user', user.id, '--json')).stdout);
    assert.equal(created.device.name, 'Scooter 7');
    assert.match(created.token, /^fmd_/);
    const listed = (await followme('tenant', 'list')).stdout;
    assert.match(listed, /pizza-express\s+active\s+Pizza Express/);

    platform = await startTestPlatform({}, dataDir);
    const { welcome, device } = await TestDevice.connect(platform.url, created.token);
    assert.equal(welcome.deviceId, created.device.id);
    device.close();
    const login = await platform.api('POST', '/auth/login', { tenant: 'pizza-express', email: 'boss@pizza.test', password: 'margherita' }, '');
    assert.equal(login.status, 200);
  });

  it('imports devices from a CSV file, all or none, and prints their tokens once as CSV', async () => {
    const file = join(dataDir, 'devices.csv');
    writeFileSync(file, 'name,uniqueId\n"Bike 1, red",\nBike 2,imei-cli-2\n');
    const out = (await followme('device', 'import', file, '--tenant', 'pizza-express')).stdout.trim().split('\n');
    assert.equal(out[0], 'id,name,uniqueId,token');
    assert.match(out[1]!, /^dev_\w+,"Bike 1, red",,fmd_[\w-]+$/);
    assert.match(out[2]!, /^dev_\w+,Bike 2,imei-cli-2,fmd_[\w-]+$/);
    const bad = join(dataDir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ name: 'Bike 3' }, { name: 'Bike 4', uniqueId: 'imei-cli-2' }]));
    await assert.rejects(followme('device', 'import', bad, '--tenant', 'pizza-express'), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /error \(conflict\): \[1\]\.uniqueId: a device with the unique id "imei-cli-2" exists already/);
      return true;
    });
    const tenant = (await platform!.api('GET', '/tenants')).body.find((t: { slug: string }) => t.slug === 'pizza-express');
    const names = (await platform!.api('GET', `/tenants/${tenant.id}/devices`)).body.map((d: { name: string }) => d.name).sort();
    assert.deepEqual(names, ['Bike 1, red', 'Bike 2', 'Scooter 7'], 'the refused file left no device behind');
  });

  it('says what is wrong with a command and exits 2', async () => {
    await assert.rejects(followme('device', 'create', 'x'), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /--tenant is required/);
      return true;
    });
    await assert.rejects(followme('user', 'create', '--tenant', 'pizza-express', '--email', 'x@y', '--name', 'X', '--role', 'king'), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /role: must be one of owner, admin, operator, member/);
      return true;
    });
  });
});
