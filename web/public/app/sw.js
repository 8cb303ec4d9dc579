// Follow Me member app service worker: an offline shell (the app opens without a network) and
// Web Push notifications while the app is closed.
const CACHE = 'followme-app-v1';
const SHELL = ['/app/', '/app/manifest.webmanifest', '/app/icon.svg'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/device/')) return;
  // Hashed assets never change: cache first. Pages: network first, the cached shell when offline.
  if (url.pathname.startsWith('/assets/')) {
    event.respondWith(
      caches.match(event.request).then((hit) => hit ?? fetch(event.request).then((response) => {
        const copy = response.clone();
        if (response.ok) void caches.open(CACHE).then((cache) => cache.put(event.request, copy));
        return response;
      })),
    );
  } else if (event.request.mode === 'navigate') {
    event.respondWith(fetch(event.request).catch(() => caches.match('/app/')));
  }
});

// A push is the JSON the server's Web Push channel sends (src/services/notification/channels/push.ts):
// { deliveryId, messageId, title, body, priority, options, link }. One notification per message
// (tag), so the same message pushed to several of a person's subscriptions, or again, shows once.
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (err) {
    // not JSON: show the text rather than nothing
    data = { body: event.data ? event.data.text() : '' };
    console.warn('push payload is not JSON', err);
  }
  const priority = data.priority === 'critical' || data.priority === 'high' ? data.priority : 'normal';
  const title = `${priority === 'critical' ? 'CRITICAL: ' : priority === 'high' ? 'Important: ' : ''}${data.title ?? 'Follow Me'}`;
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body ?? '',
    tag: data.messageId ?? data.deliveryId,
    renotify: priority !== 'normal',
    // a critical message stays until the person acts on it; normal ones may come silently
    requireInteraction: priority === 'critical',
    silent: priority === 'normal',
    icon: '/app/icon.svg',
    badge: '/app/icon.svg',
    timestamp: Date.now(),
    data: { ...data, priority },
  }));
});

// A click opens the member app on that message: an open app is focused and told which message
// (it highlights it); otherwise a new window opens at /app/?message=<id>.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data ?? {};
  const url = data.messageId ? `/app/?message=${encodeURIComponent(data.messageId)}` : '/app/';
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((list) => {
    const app = list.find((c) => new URL(c.url).pathname.startsWith('/app'));
    if (app) {
      app.postMessage({ type: 'followme:open-message', messageId: data.messageId, title: data.title, body: data.body, priority: data.priority });
      return app.focus();
    }
    return self.clients.openWindow(url);
  }));
});
