/**
 * Web Push while the app is closed. The service worker (public/app/sw.js) already shows pushed
 * messages; subscribing needs the server's VAPID public key and a route that stores the
 * subscription for this device. Until the notification service exposes them, this stays off
 * and says so (docs/web.md, "Web Push").
 */
export function PushSetup(_props: { deviceToken: string }) {
  return null;
}
