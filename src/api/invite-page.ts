/**
 * The page an invitation link opens (/invite/{token}): the invited person chooses a password, and
 * can then log in. Plain HTML over POST /api/v1/invitations/{token}/accept.
 */
import type { HttpServer } from '../http/server.js';
import { htmlPage, sendPage } from './page.js';

const PAGE = htmlPage(
  'Set your password',
  `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 1.5rem; color: #111; background: #f6f7f9; }
  main { max-width: 26rem; margin: auto; background: #fff; border-radius: 8px; padding: 1.5rem; box-shadow: 0 1px 3px #0002; }
  label { display: block; margin: 1rem 0 .25rem; }
  input { width: 100%; padding: .5rem; font: inherit; box-sizing: border-box; }
  button { margin-top: 1rem; padding: .5rem 1rem; font: inherit; }
  [role=alert] { color: #8a1c1c; }
`,
  `<main>
  <h1 id="title">Set your password</h1>
  <form id="form">
    <label for="password">New password (at least 8 characters)</label>
    <input id="password" type="password" minlength="8" required autocomplete="new-password">
    <button type="submit">Save</button>
  </form>
  <p id="result" role="alert"></p>
</main>
<script>
  const token = location.pathname.split('/').pop();
  document.getElementById('form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const password = document.getElementById('password').value;
    const r = await fetch('/api/v1/invitations/' + token + '/accept', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
    const body = await r.json();
    const result = document.getElementById('result');
    if (!r.ok) { result.textContent = body.detail; return; }
    result.setAttribute('role', 'status');
    result.textContent = 'Done. Log in as ' + body.user.email + ' to ' + body.tenant.name + ' (organisation: ' + body.tenant.slug + ').';
    document.getElementById('form').hidden = true;
  });
</script>`,
);

export function invitePage(app: HttpServer): void {
  app.get('/invite/:token', async (_request, reply) => sendPage(reply, PAGE));
}
