/** Plans and quotas: what a tenant may have, enforced where things are created. */
import { AppError, invalid } from '../../core/errors.js';

export interface Quotas {
  /** Most devices; 0 = no limit. */
  devices: number;
  /** Most users; 0 = no limit. */
  users: number;
  /** Most messages sent per day (UTC); 0 = no limit. */
  messagesPerDay: number;
  /** Days positions are kept (the tenant's retention). */
  retentionDays: number;
}

export interface Plan {
  name: string;
  quotas: Quotas;
}

export const defaultPlan: Readonly<Plan> = Object.freeze({ name: 'standard', quotas: Object.freeze({ devices: 1000, users: 1000, messagesPerDay: 10_000, retentionDays: 90 }) });

const LIMITS: Record<keyof Quotas, [number, number]> = { devices: [0, 10_000_000], users: [0, 10_000_000], messagesPerDay: [0, 100_000_000], retentionDays: [1, 36_500] };

/** A plan from input (partial: missing quotas keep `base`), refusing bad values with the field named. */
export function parsePlan(input: unknown, base: Plan = defaultPlan, field = 'plan'): Plan {
  if (input === undefined) return { name: base.name, quotas: { ...base.quotas } };
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw invalid(field, 'must be an object with name and quotas');
  const o = input as Record<string, unknown>;
  const name = o.name === undefined ? base.name : o.name;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 60) throw invalid(`${field}.name`, 'must be a name of 1 to 60 characters');
  const quotas = { ...base.quotas };
  if (o.quotas !== undefined) {
    if (!o.quotas || typeof o.quotas !== 'object' || Array.isArray(o.quotas)) throw invalid(`${field}.quotas`, 'must be an object');
    for (const [key, value] of Object.entries(o.quotas as Record<string, unknown>)) {
      const limits = LIMITS[key as keyof Quotas];
      if (!limits) throw invalid(`${field}.quotas.${key}`, `is not a quota; known: ${Object.keys(LIMITS).join(', ')}`);
      if (typeof value !== 'number' || !Number.isInteger(value) || value < limits[0] || value > limits[1]) throw invalid(`${field}.quotas.${key}`, `must be a whole number from ${limits[0]} to ${limits[1]}, got ${JSON.stringify(value)}`);
      quotas[key as keyof Quotas] = value;
    }
  }
  return { name: name.trim(), quotas };
}

/** Refuses one more of `what` when the plan's quota is reached, saying so. */
export function checkQuota(plan: Plan, what: 'devices' | 'users' | 'messagesPerDay', current: number, adding = 1): void {
  const limit = plan.quotas[what];
  if (limit === 0 || current + adding <= limit) return;
  const noun = what === 'messagesPerDay' ? 'messages a day' : what;
  throw new AppError('quota_exceeded', `the plan "${plan.name}" allows ${limit} ${noun}; this tenant has ${current}${adding > 1 ? ` and asked for ${adding} more` : ''}. Ask the platform owner for a larger plan.`, [{ field: what, reason: `quota of ${limit} reached` }]);
}
