/** HTTPS with a default certificate and per-domain certificates chosen by SNI. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { startTestPlatform, type TestPlatform } from '../helpers.js';

function selfSigned(dir: string, name: string, cn: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
}

function peerName(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(Array.isArray(cn) ? cn[0]! : (cn ?? ''));
    });
    socket.on('error', reject);
  });
}

describe('TLS', () => {
  let p: TestPlatform | undefined;
  let openssl = true;
  before(async () => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      openssl = false;
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'followme-tls-'));
    const domains = join(dir, 'domains');
    mkdirSync(domains);
    selfSigned(dir, 'default', 'platform.local');
    selfSigned(domains, 'track.blue.example', 'track.blue.example');
    p = await startTestPlatform({ FOLLOWME_TLS_CERT: join(dir, 'default.crt'), FOLLOWME_TLS_KEY: join(dir, 'default.key'), FOLLOWME_TLS_DIR: domains });
  });
  after(async () => p?.stop());

  it("answers a custom domain with its own certificate and anything else with the default", async (t) => {
    if (!p) return t.skip(openssl ? 'platform did not start' : 'openssl is not installed');
    assert.match(p.url, /^https:/);
    const port = Number(new URL(p.url).port);
    assert.equal(await peerName(port, 'track.blue.example'), 'track.blue.example');
    assert.equal(await peerName(port, 'other.example'), 'platform.local');
  });

  it('refuses a certificate without its key at start, naming both settings', async () => {
    await assert.rejects(startTestPlatform({ FOLLOWME_TLS_CERT: '/nowhere.crt' }), /FOLLOWME_TLS_CERT and FOLLOWME_TLS_KEY go together/);
  });
});
