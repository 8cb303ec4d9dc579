/**
 * The page a share link opens (/s/{token}): one person's live position for someone without an
 * account. Plain HTML and a few lines of script over the public share endpoints; after expiry it
 * shows nothing but that the link has expired.
 */
import type { HttpServer } from '../http/server.js';
import { htmlPage, sendPage } from './page.js';

const PAGE = htmlPage(
  'Follow Me: shared location',
  `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 1.5rem; color: #111; background: #f6f7f9; }
  main { max-width: 32rem; margin: auto; background: #fff; border-radius: 8px; padding: 1.5rem; box-shadow: 0 1px 3px #0002; }
  h1 { font-size: 1.25rem; margin: 0 0 1rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
  dt { color: #555; }
  .gone { color: #8a1c1c; }
`,
  `<main>
  <h1 id="title">Shared location</h1>
  <p id="state" role="status">Loading…</p>
  <dl id="where" hidden>
    <dt>Position</dt><dd><a id="coords" rel="noopener" target="_blank"></a></dd>
    <dt>Accuracy</dt><dd id="accuracy"></dd>
    <dt>Reported</dt><dd id="time"></dd>
    <dt>Shared until</dt><dd id="until"></dd>
  </dl>
</main>
<script>
  const token = location.pathname.split('/').pop();
  const $ = (id) => document.getElementById(id);
  function gone() {
    $('title').textContent = 'Shared location';
    $('where').hidden = true;
    $('state').textContent = 'This link has expired or was revoked.';
    $('state').className = 'gone';
  }
  function show(name, expiresAt, p) {
    $('title').textContent = name + ' shares their location';
    $('until').textContent = new Date(expiresAt).toLocaleString();
    if (!p) { $('state').textContent = 'No position yet.'; return; }
    $('state').textContent = 'Live';
    $('where').hidden = false;
    $('coords').textContent = p.lat.toFixed(5) + ', ' + p.lon.toFixed(5);
    $('coords').href = 'geo:' + p.lat + ',' + p.lon;
    $('accuracy').textContent = p.accuracy !== undefined ? Math.round(p.accuracy) + ' m' : 'unknown';
    $('time').textContent = new Date(p.time).toLocaleString();
  }
  fetch('/api/v1/shared/' + token).then(async (r) => {
    if (!r.ok) return gone();
    const view = await r.json();
    show(view.name, view.expiresAt, view.position);
    const live = new EventSource('/api/v1/shared/' + token + '/live');
    live.addEventListener('position', (e) => show(view.name, view.expiresAt, JSON.parse(e.data)));
    live.addEventListener('expired', () => { live.close(); gone(); });
  }, gone);
</script>`,
);

export function sharePage(app: HttpServer): void {
  app.get('/s/:token', async (_request, reply) => sendPage(reply, PAGE));
}
