/** The Prometheus registry every part registers its metrics in; /metrics serves it. */
import { Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'followme_' });
