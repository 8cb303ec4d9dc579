/**
 * The enabled rules of each tenant, held per process so that a fence event or a position costs a
 * map lookup instead of a store query. A tenant's entry is dropped when any process changes its
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

/** Per-tenant rules with one load in flight per tenant; `drop` forgets a tenant (its next lookup reads the store again). */
export class RuleCache {
  private readonly tenants = new Map<string, { rules: Promise<TenantRules>; until: number }>();

  constructor(
    /** Reads a tenant's enabled rules from the store. */
    private readonly load: (tenantId: string) => Promise<Rule[]>,
    private readonly ttlMs: number,
  ) {}

  /** The tenant's enabled rules: from the cache while fresh, else read once (concurrent callers share the read). */
  get(tenantId: string, now = Date.now()): Promise<TenantRules> {
    const cached = this.tenants.get(tenantId);
    if (cached && cached.until > now) return cached.rules;
    const entry = { rules: this.load(tenantId).then((rules) => new TenantRules(rules)), until: now + this.ttlMs };
    this.tenants.set(tenantId, entry);
    // a failed read is not kept: the next lookup tries again (the caller sees this one's error)
    entry.rules.catch(() => {
      if (this.tenants.get(tenantId) === entry) this.tenants.delete(tenantId);
    });
    return entry.rules;
  }

  /**
   * Forgets the tenant's rules. A read already in flight keeps answering the callers that asked
   * before (they were handling events from before the change), but is not kept for later ones.
   */
  drop(tenantId: string): void {
    this.tenants.delete(tenantId);
  }
}
