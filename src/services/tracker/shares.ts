/**
 * "Follow me": a member lets chosen people or groups see their live location, for a while or until
 * revoked, and may hand out a link that shows it to someone without an account until it expires.
 * Consent is the member's: only they create, see and revoke their shares. Operators see devices
 * by the tenant's policy (docs/follow-me.md), not through shares.
 */
import type { Kysely } from 'kysely';
import { AppError, forbidden, invalid, notFound } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { hashToken, newToken } from '../../core/secrets.js';
import type { TenantContext } from '../../core/tenancy.js';
import type { Position } from '../../core/types.js';
import { TenantScope, type Store } from '../../ports/store.js';
import type { ShareChanged } from './events.js';
import type { TrackerDB } from './schema.js';

export interface Share {
  id: string;
  ownerUserId: string;
  followers: { userIds: string[]; groupIds: string[] };
  createdAt: number;
  expiresAt: number | null;
}

export interface ShareLink {
  id: string;
  ownerUserId: string;
  createdAt: number;
  expiresAt: number;
}

/** One person who shares with the caller, and where their devices are. */
export interface Followed {
  shareId: string;
  userId: string;
  name: string;
  expiresAt: number | null;
  /** When the earliest of their shares with me in force began. */
  since: number;
  positions: Position[];
}

/** Someone who may follow a person now, and until when (null: until revoked). */
export interface Follower {
  userId: string;
  expiresAt: number | null;
}

/** What sharing asks of the client service. */
export interface People {
  devicesOfUser(ctx: TenantContext, userId: string): Promise<string[]>;
  groupsOfUser(ctx: TenantContext, userId: string): Promise<string[]>;
  userName(ctx: TenantContext, userId: string): Promise<string>;
  /** The users of these groups and of their sub-groups. */
  usersInGroups(ctx: TenantContext, groupIds: string[]): Promise<string[]>;
  /** Refuses ids that are not users/groups of the tenant (AppError naming the field). */
  checkAudience(ctx: TenantContext, audience: { userIds: string[]; groupIds: string[] }): Promise<void>;
}

const MAX_LINK_MINUTES = 7 * 24 * 60;

export class Sharing {
  constructor(
    private readonly store: Store<TrackerDB>,
    private readonly people: People,
    private readonly lastKnown: (ctx: TenantContext, deviceIds: string[]) => Promise<Position[]>,
    /** Told of every share that starts or is revoked (the composition root publishes it on the bus). */
    private readonly changed: (change: ShareChanged) => Promise<void> = async () => {},
  ) {}

  private get db(): Kysely<TrackerDB> {
    return this.store.db;
  }

  private scope(ctx: TenantContext): TenantScope<TrackerDB> {
    return new TenantScope(this.db, ctx.tenantId);
  }

  /** The user a context acts for; sharing is a person's own decision, so only users may share. */
  private me(ctx: TenantContext): string {
    if (ctx.principal.kind !== 'user') throw forbidden('only a logged-in user can share their location or follow others');
    return ctx.principal.userId;
  }

  async share(ctx: TenantContext, input: { userIds?: string[] | undefined; groupIds?: string[] | undefined; minutes?: number | undefined }): Promise<Share> {
    const owner = this.me(ctx);
    const followers = { userIds: [...new Set(input.userIds ?? [])].filter((u) => u !== owner), groupIds: [...new Set(input.groupIds ?? [])] };
    if (followers.userIds.length + followers.groupIds.length === 0) throw invalid('userIds', 'name at least one other user or a group to share with');
    if (input.minutes !== undefined && (!Number.isInteger(input.minutes) || input.minutes < 1 || input.minutes > 525_600)) throw invalid('minutes', 'must be a whole number of minutes from 1 to 525600, or absent for until revoked');
    await this.people.checkAudience(ctx, followers);
    const now = Date.now();
    const share: Share = { id: newId('shr'), ownerUserId: owner, followers, createdAt: now, expiresAt: input.minutes ? now + input.minutes * 60_000 : null };
    await this.scope(ctx).insert('shares', { id: share.id, owner_user_id: owner, followers: JSON.stringify(followers), created_at: now, expires_at: share.expiresAt, revoked_at: null });
    await this.changed({ tenantId: ctx.tenantId, ownerUserId: owner, followers, active: true });
    return share;
  }

  /** My shares that are still in force: who can follow me. */
  async myShares(ctx: TenantContext): Promise<{ shares: Share[]; links: ShareLink[] }> {
    const owner = this.me(ctx);
    const now = Date.now();
    const shares = (await this.activeShares(ctx, now)).filter((s) => s.ownerUserId === owner);
    const links = (await this.scope(ctx).selectFrom('share_links').selectAll().where('owner_user_id', '=', owner).where('revoked_at', 'is', null).where('expires_at', '>', now).orderBy('created_at').execute()).map((r) => ({
      id: r.id,
      ownerUserId: r.owner_user_id,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    }));
    return { shares, links };
  }

  async revoke(ctx: TenantContext, id: string): Promise<void> {
    const owner = this.me(ctx);
    const scope = this.scope(ctx);
    const now = Date.now();
    const share = await scope.updateTable('shares').set({ revoked_at: now }).where('id', '=', id).where('owner_user_id', '=', owner).where('revoked_at', 'is', null).executeTakeFirst();
    const link = await scope.updateTable('share_links').set({ revoked_at: now }).where('id', '=', id).where('owner_user_id', '=', owner).where('revoked_at', 'is', null).executeTakeFirst();
    if (Number(share.numUpdatedRows) + Number(link.numUpdatedRows) === 0) throw notFound('share', id);
    if (Number(share.numUpdatedRows) > 0) {
      const row = await scope.selectFrom('shares').select('followers').where('id', '=', id).executeTakeFirstOrThrow();
      await this.changed({ tenantId: ctx.tenantId, ownerUserId: owner, followers: JSON.parse(row.followers) as Share['followers'], active: false });
    }
  }

  /**
   * Who may follow a person now: the users their shares in force name, directly or through a group
   * (and its sub-groups), each with the latest expiry of the shares that reach them. For the edge,
   * which sends a person's positions to their followers' OwnTracks apps.
   */
  async followersOf(ctx: TenantContext, ownerUserId: string): Promise<Follower[]> {
    const until = new Map<string, number | null>();
    for (const share of await this.activeShares(ctx, Date.now(), ownerUserId)) {
      const users = new Set(share.followers.userIds);
      if (share.followers.groupIds.length > 0) for (const u of await this.people.usersInGroups(ctx, share.followers.groupIds)) users.add(u);
      users.delete(ownerUserId);
      for (const userId of users) {
        const known = until.get(userId);
        if (known === undefined || (known !== null && (share.expiresAt === null || share.expiresAt > known))) until.set(userId, share.expiresAt);
      }
    }
    return [...until].map(([userId, expiresAt]) => ({ userId, expiresAt })).sort((a, b) => a.userId.localeCompare(b.userId));
  }

  /** The people who share with me now, with the last known positions of their devices. */
  async following(ctx: TenantContext): Promise<Followed[]> {
    const me = this.me(ctx);
    const myGroups = new Set(await this.people.groupsOfUser(ctx, me));
    const byOwner = new Map<string, Share>();
    const since = new Map<string, number>();
    for (const share of await this.activeShares(ctx, Date.now())) {
      if (share.ownerUserId === me) continue;
      const mine = share.followers.userIds.includes(me) || share.followers.groupIds.some((g) => myGroups.has(g));
      if (!mine) continue;
      since.set(share.ownerUserId, Math.min(since.get(share.ownerUserId) ?? Infinity, share.createdAt));
      const known = byOwner.get(share.ownerUserId);
      // of two shares by one person, the one that lasts longer counts
      if (!known || (known.expiresAt !== null && (share.expiresAt === null || share.expiresAt > known.expiresAt))) byOwner.set(share.ownerUserId, share);
    }
    const result: Followed[] = [];
    for (const [userId, share] of byOwner) {
      const devices = await this.people.devicesOfUser(ctx, userId);
      result.push({ shareId: share.id, userId, name: await this.people.userName(ctx, userId), expiresAt: share.expiresAt, since: since.get(userId)!, positions: await this.lastKnown(ctx, devices) });
    }
    return result.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The device ids whose positions I may see live through shares. */
  async followedDevices(ctx: TenantContext): Promise<Set<string>> {
    const followed = await this.following(ctx);
    const devices = new Set<string>();
    for (const f of followed) for (const id of await this.people.devicesOfUser(ctx, f.userId)) devices.add(id);
    return devices;
  }

  /** A link that shows my live position to anyone who has it, until it expires. The token is returned this once. */
  async createLink(ctx: TenantContext, minutes: number): Promise<ShareLink & { token: string }> {
    const owner = this.me(ctx);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_LINK_MINUTES) throw invalid('minutes', `must be a whole number of minutes from 1 to ${MAX_LINK_MINUTES} (a week)`);
    const token = newToken('fms');
    const now = Date.now();
    const link = { id: newId('shl'), ownerUserId: owner, createdAt: now, expiresAt: now + minutes * 60_000 };
    await this.scope(ctx).insert('share_links', { id: link.id, owner_user_id: owner, token_hash: hashToken(token), created_at: now, expires_at: link.expiresAt, revoked_at: null });
    return { ...link, token };
  }

  /** What a share link shows: the owner's name and newest position, or `gone` once it expired or was revoked. */
  async openLink(token: string): Promise<{ tenantId: string; userId: string; name: string; expiresAt: number; position: Position | null; deviceIds: string[] }> {
    const row = await this.db.selectFrom('share_links').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
    if (!row || row.revoked_at !== null || row.expires_at <= Date.now()) throw new AppError('not_found', 'this share link has expired or was revoked');
    const ctx: TenantContext = { tenantId: row.tenant_id, principal: { kind: 'admin' } };
    const deviceIds = await this.people.devicesOfUser(ctx, row.owner_user_id);
    const positions = await this.lastKnown(ctx, deviceIds);
    const newest = positions.reduce<Position | null>((best, p) => (!best || p.time > best.time ? p : best), null);
    return { tenantId: row.tenant_id, userId: row.owner_user_id, name: await this.people.userName(ctx, row.owner_user_id), expiresAt: row.expires_at, position: newest, deviceIds };
  }

  private async activeShares(ctx: TenantContext, now: number, ownerUserId?: string): Promise<Share[]> {
    let query = this.scope(ctx)
      .selectFrom('shares')
      .selectAll()
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
    if (ownerUserId !== undefined) query = query.where('owner_user_id', '=', ownerUserId);
    const rows = await query.orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, ownerUserId: r.owner_user_id, followers: JSON.parse(r.followers) as Share['followers'], createdAt: r.created_at, expiresAt: r.expires_at }));
  }
}
