/**
 * The enabled rules of each tenant (and, through TenantCache, its webhook subscriptions), held per
 * process so that a fence event or a position costs a map lookup instead of a store query. A tenant's entry is dropped when any process changes its
 * rules (`settings.changed` {service:"notification"}: a rule created or deleted, tenant import or
 * purge) and reloaded after `ttlMs` anyway, should that signal be missed (it is at most once, e.g.
 * across a NATS reconnect).
 */
import type { Rule, RuleTrigger } from './rules.js';

/** A tenant's enabled rules, by trigger and fence (or proximity rule). */
export class TenantRules {
  private readonly byKey = new Map<string, Rule[]>();

  constructor(rules: readonly Rule[]) {
    for (const rule of rules) {
      if (!rule.enabled) continue;
      const key = keyOf(rule.on, rule.fenceId);
      const list = this.byKey.get(key);
      if (list) list.push(rule);
      else this.byKey.set(key, [rule]);
    }
  }

  /** The enabled rules on this trigger (and, for fence and proximity triggers, this fence or proximity rule), oldest id first. */
  of(on: RuleTrigger, fenceId: string | null = null): readonly Rule[] {
    return this.byKey.get(keyOf(on, fenceId)) ?? NONE;
  }
}

const NONE: readonly Rule[] = Object.freeze([]);
const keyOf = (on: RuleTrigger, fenceId: string | null) => `${on}\u0000${fenceId ?? ''}`;

/**
 * Something per tenant read from the store, with one load in flight per tenant, kept `ttlMs`;
 * `drop` forgets a tenant (its next lookup reads the store again). The rules and the webhook
 * subscriptions of a tenant are held this way, both dropped on `settings.changed`.
 */
export class TenantCache<T> {
  private readonly tenants = new Map<string, { value: Promise<T>; until: number }>();

  constructor(
    /** Reads a tenant's entry from the store. */
    private readonly load: (tenantId: string) => Promise<T>,
    private readonly ttlMs: number,
  ) {}

  /** The tenant's entry: from the cache while fresh, else read once (concurrent callers share the read). */
  get(tenantId: string, now = Date.now()): Promise<T> {
    const cached = this.tenants.get(tenantId);
    if (cached && cached.until > now) return cached.value;
    const entry = { value: this.load(tenantId), until: now + this.ttlMs };
    this.tenants.set(tenantId, entry);
    // a failed read is not kept: the next lookup tries again (the caller sees this one's error)
    entry.value.catch(() => {
      if (this.tenants.get(tenantId) === entry) this.tenants.delete(tenantId);
    });
    return entry.value;
  }

  /**
   * Forgets the tenant's entry. A read already in flight keeps answering the callers that asked
   * before (they were handling events from before the change), but is not kept for later ones.
   */
  drop(tenantId: string): void {
    this.tenants.delete(tenantId);
  }
}

/** Per-tenant enabled rules, by trigger and fence. */
export class RuleCache extends TenantCache<TenantRules> {
  constructor(load: (tenantId: string) => Promise<Rule[]>, ttlMs: number) {
    super(async (tenantId) => new TenantRules(await load(tenantId)), ttlMs);
  }
}
