import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../lib/styles.css';
import './member.css';
import { MemberApp } from './MemberApp';

createRoot(document.getElementById('root')!).render(<StrictMode><MemberApp /></StrictMode>);

// The offline shell: the service worker caches the app so it opens without a network.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch((err: unknown) => console.warn('service worker not registered', err));
}
