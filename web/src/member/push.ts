/**
 * Web Push while the app is closed: with the member logged in (push subscriptions belong to a
 * person), the app asks for permission, subscribes with the tenant's VAPID public key and registers
 * the subscription; the service worker (public/app/sw.js) shows what arrives.
 */
import { createElement as h, useEffect, useState } from 'react';
import { tenantApi, type Session } from '../lib/api';

type State = 'unsupported' | 'logged-out' | 'off' | 'working' | 'on' | 'denied' | 'error';

function keyBytes(base64url: string): Uint8Array {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

export function PushSetup({ session }: { session: Session | undefined }) {
  const supported = typeof window !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  const [state, setState] = useState<State>(!supported ? 'unsupported' : !session ? 'logged-out' : 'off');
  const [detail, setDetail] = useState('');

  useEffect(() => {
    if (!supported) return;
    if (!session) {
      setState('logged-out');
      return;
    }
    if (Notification.permission === 'denied') setState('denied');
    else void navigator.serviceWorker.ready.then((reg) => reg.pushManager.getSubscription()).then((sub) => setState(sub ? 'on' : 'off'), () => setState('off'));
  }, [supported, session]);

  const turnOn = async () => {
    if (!session) return;
    setState('working');
    try {
      if ((await Notification.requestPermission()) !== 'granted') {
        setState('denied');
        return;
      }
      const api = tenantApi(session);
      const { publicKey } = await api.get<{ publicKey: string }>('/push/vapid-public-key');
      const reg = await navigator.serviceWorker.ready;
      const subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) as BufferSource });
      await api.post('/me/push-subscriptions', subscription.toJSON());
      setState('on');
    } catch (err) {
      setDetail((err as Error).message);
      setState('error');
    }
  };

  const text: Record<State, string> = {
    unsupported: 'This browser cannot receive messages while the app is closed.',
    'logged-out': 'Log in below to get messages while the app is closed.',
    off: '',
    working: 'Turning on notifications…',
    on: 'Messages reach you while the app is closed.',
    denied: 'Notifications are blocked for this site in the browser settings.',
    error: `Could not turn on notifications: ${detail}`,
  };
  return h(
    'p',
    { className: 'muted', 'data-testid': 'push' },
    state === 'off' ? h('button', { type: 'button', className: 'secondary', onClick: () => void turnOn() }, 'Get messages while the app is closed') : text[state],
  );
}
