/**
 * The platform owner's console (/platform): tenants with their usage against their plans,
 * provisioning a customer, suspend and resume, export, and the audit log. Plain HTML over the
 * platform API with the admin key, which the page keeps in this tab's session storage only.
 */
import type { HttpServer } from '../http/server.js';
import { htmlPage, sendPage } from './page.js';

const PAGE = htmlPage(
  'Follow Me: platform console',
  `
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #111; background: #f6f7f9; }
  header { background: #1f2937; color: #fff; padding: .75rem 1.25rem; }
  main { max-width: 70rem; margin: auto; padding: 1rem 1.25rem; }
  section { background: #fff; border-radius: 8px; padding: 1rem 1.25rem; margin: 1rem 0; box-shadow: 0 1px 3px #0002; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
  label { display: block; margin-top: .5rem; }
  input { font: inherit; padding: .35rem; width: 100%; max-width: 24rem; box-sizing: border-box; }
  button { font: inherit; padding: .35rem .75rem; margin: .15rem .25rem .15rem 0; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 0 1rem; }
  [role=alert] { color: #8a1c1c; }
  .muted { color: #555; }
`,
  `<header><h1 style="margin:0;font-size:1.2rem">Follow Me platform console</h1></header>
<main>
  <section id="login">
    <h2>Sign in</h2>
    <form id="login-form">
      <label for="key">Platform admin key</label>
      <input id="key" type="password" autocomplete="off" required placeholder="fma_…">
      <button type="submit">Open the console</button>
    </form>
    <p id="login-error" role="alert"></p>
  </section>
  <div id="console" hidden>
    <section aria-labelledby="tenants-title">
      <h2 id="tenants-title">Tenants</h2>
      <table>
        <thead><tr><th>Tenant</th><th>Status</th><th>Plan</th><th>Devices</th><th>Users</th><th>Actions</th></tr></thead>
        <tbody id="tenants"></tbody>
      </table>
    </section>
    <section aria-labelledby="provision-title">
      <h2 id="provision-title">Provision a customer</h2>
      <form id="provision-form">
        <div class="grid">
          <div><label for="p-name">Name</label><input id="p-name" required></div>
          <div><label for="p-ref">External reference</label><input id="p-ref" placeholder="crm-4711"></div>
          <div><label for="p-email">Owner e-mail</label><input id="p-email" type="email" required></div>
          <div><label for="p-owner">Owner name</label><input id="p-owner" required></div>
          <div><label for="p-devices">Devices quota</label><input id="p-devices" type="number" min="0" value="1000"></div>
          <div><label for="p-users">Users quota</label><input id="p-users" type="number" min="0" value="1000"></div>
        </div>
        <button type="submit">Provision</button>
      </form>
      <p id="provision-result" role="status"></p>
    </section>
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <table>
        <thead><tr><th>When</th><th>Who</th><th>What</th><th>Tenant</th><th>From</th></tr></thead>
        <tbody id="audit"></tbody>
      </table>
    </section>
  </div>
</main>
<script>
  const $ = (id) => document.getElementById(id);
  let key = sessionStorage.getItem('followme.platform-key') || '';
  async function call(method, path, body) {
    const r = await fetch('/api/v1' + path, { method, headers: Object.assign({ authorization: 'Bearer ' + key }, body ? { 'content-type': 'application/json' } : {}), body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    const data = text ? JSON.parse(text) : undefined;
    if (!r.ok) throw new Error(data && data.detail ? data.detail : r.status + ' ' + r.statusText);
    return data;
  }
  const cell = (text) => { const td = document.createElement('td'); td.textContent = text; return td; };
  function button(label, onClick) { const b = document.createElement('button'); b.type = 'button'; b.textContent = label; b.addEventListener('click', onClick); return b; }
  async function refresh() {
    const usage = await call('GET', '/provisioning/usage');
    const rows = usage.map((u) => {
      const tr = document.createElement('tr');
      tr.append(cell(u.slug), cell(u.status), cell(u.plan.name), cell(u.devices + ' / ' + (u.plan.quotas.devices || '∞')), cell(u.users + ' / ' + (u.plan.quotas.users || '∞')));
      const actions = document.createElement('td');
      actions.append(
        button((u.status === 'active' ? 'Suspend ' : 'Resume ') + u.slug, async () => { await call('POST', '/tenants/' + u.tenantId + (u.status === 'active' ? '/suspend' : '/resume')); await refresh(); }),
        button('Export ' + u.slug, async () => {
          const data = await call('GET', '/tenants/' + u.tenantId + '/export');
          const a = document.createElement('a');
          a.href = URL.createObjectURL(new Blob([JSON.stringify(data)], { type: 'application/json' }));
          a.download = u.slug + '.followme.json';
          a.click();
        }),
      );
      tr.append(actions);
      return tr;
    });
    $('tenants').replaceChildren(...rows);
    const log = await call('GET', '/audit?limit=50');
    $('audit').replaceChildren(...log.map((e) => { const tr = document.createElement('tr'); tr.append(cell(new Date(e.at).toLocaleString()), cell(e.actor.kind + (e.actor.userId ? ' ' + e.actor.userId : '')), cell(e.action + (e.target ? ' ' + e.target : '')), cell(e.tenantId || '—'), cell(e.ip || '')); return tr; }));
  }
  async function open() {
    try {
      await refresh();
      sessionStorage.setItem('followme.platform-key', key);
      $('login').hidden = true;
      $('console').hidden = false;
    } catch (err) {
      $('login-error').textContent = 'Not signed in: ' + err.message;
    }
  }
  $('login-form').addEventListener('submit', (e) => { e.preventDefault(); key = $('key').value.trim(); void open(); });
  $('provision-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const body = { name: $('p-name').value, owner: { email: $('p-email').value, name: $('p-owner').value }, plan: { quotas: { devices: Number($('p-devices').value), users: Number($('p-users').value) } } };
      if ($('p-ref').value) body.externalRef = $('p-ref').value;
      const made = await call('POST', '/provisioning/tenants', body);
      $('provision-result').textContent = (made.created ? 'Provisioned ' : 'Exists already: ') + made.tenant.slug + (made.invitation ? '. Send the owner this link: ' + location.origin + made.invitation.url : '');
      await refresh();
    } catch (err) {
      $('provision-result').textContent = 'Refused: ' + err.message;
    }
  });
  if (key) void open();
</script>`,
);

export function platformPage(app: HttpServer): void {
  app.get('/platform', async (_request, reply) => sendPage(reply, PAGE));
}
