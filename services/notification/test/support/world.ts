import { AccessPolicy } from '@lib/access';
import { fiscalYearOf, Role, Topics, UserSnapshot } from '@lib/contracts';
import { eventually, RunningService, TestIssuer, TestKafka } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { RecipientDirectory } from '../../src/recipients/recipient-directory';

/**
 * The fiscal year of invitations (tomorrow's, as the other services' specs take it): one read after its year ended
 * tells nobody, so a literal year would make these specs fail once it is over.
 */
export const CURRENT_FY = fiscalYearOf(new Date(Date.now() + 86_400_000));

export interface TestUser extends UserSnapshot {
  token: string;
}

/**
 * One partner with its locations and users, told to the service the way the identity service would: full user
 * snapshots with revisions on identity.events.v1 (key partnerId).
 */
export class World {
  readonly partnerId = `p-${randomUUID()}`;
  readonly locations: string[] = [];

  constructor(
    private readonly kafka: TestKafka,
    private readonly issuer: TestIssuer,
    private readonly service: RunningService,
  ) {}

  async register(...legalNames: string[]): Promise<string[]> {
    const locations = legalNames.map((legalName) => ({ locationId: `L-${randomUUID().slice(0, 8)}`, country: 'US', legalName }));
    await this.kafka.publishEvent(Topics.identity, this.partnerId, {
      type: 'PartnerRegistered',
      data: { partnerId: this.partnerId, name: 'Contoso', locations },
    });
    this.locations.push(...locations.map((l) => l.locationId));
    return locations.map((l) => l.locationId);
  }

  /** A user with these roles, known to the service (and active) when this returns. */
  async user(name: string, roles: Array<{ role: Role; locationIds: string[] }>): Promise<TestUser> {
    const userId = `u-${name.toLowerCase()}-${randomUUID().slice(0, 8)}`;
    const user: UserSnapshot = {
      userId,
      partnerId: this.partnerId,
      email: `${userId}@contoso.example`,
      displayName: `${name} ${userId.slice(-4)}`,
      active: true,
      roles,
      revision: 1,
    };
    await this.kafka.publishEvent(Topics.identity, this.partnerId, { type: 'UserCreated', data: { user } });
    const token = await this.issuer.token({ sub: userId, partnerId: this.partnerId });
    await eventually(async () => {
      const response = await fetch(`${this.service.url}/v1/inbox`, { headers: { authorization: `Bearer ${token}` } });
      if (response.status !== 200) throw new Error(`${userId} not in the view yet (${response.status})`);
    }, 120_000, 200);
    return { ...user, token };
  }

  /** The user's email changes (a newer snapshot); returns when the service knows it. */
  async changeEmail(user: TestUser, email: string): Promise<TestUser> {
    const next: UserSnapshot = { ...stripToken(user), email, revision: user.revision + 1 };
    await this.kafka.publishEvent(Topics.identity, this.partnerId, { type: 'UserUpdated', data: { user: next } });
    await eventually(async () => {
      if ((await addressNow(this.service, this.partnerId, user.userId)) !== email) throw new Error(`${user.userId}: the view has not the new email yet`);
    }, 30_000);
    return { ...next, token: user.token };
  }

  /** The user's display name changes (a newer snapshot); returns when the service knows it. */
  rename(user: TestUser, displayName: string): Promise<TestUser> {
    return this.updated(user, { displayName });
  }

  /** The user's roles change (a newer snapshot: a role revoked, another granted); returns when the service knows it. */
  changeRoles(user: TestUser, roles: Array<{ role: Role; locationIds: string[] }>): Promise<TestUser> {
    return this.updated(user, { roles });
  }

  /** UserUpdated with `changes` (the next revision), once the service's view holds that revision. */
  private async updated(user: TestUser, changes: Partial<UserSnapshot>): Promise<TestUser> {
    const next: UserSnapshot = { ...stripToken(user), ...changes, revision: user.revision + 1 };
    await this.kafka.publishEvent(Topics.identity, this.partnerId, { type: 'UserUpdated', data: { user: next } });
    await eventually(async () => {
      const known = await this.service.app.get(AccessPolicy).user(user.userId);
      if (known?.revision !== next.revision) throw new Error(`${user.userId}: the view has not revision ${next.revision} yet`);
    }, 30_000);
    return { ...next, token: user.token };
  }

  /** Deactivates the user (a newer snapshot), and waits until the service knows it. */
  async deactivate(user: TestUser): Promise<TestUser> {
    const next: UserSnapshot = { ...stripToken(user), active: false, revision: user.revision + 1 };
    await this.kafka.publishEvent(Topics.identity, this.partnerId, { type: 'UserDeactivated', data: { user: next } });
    await eventually(async () => {
      const response = await fetch(`${this.service.url}/v1/inbox`, { headers: { authorization: `Bearer ${user.token}` } });
      const body = await response.text();
      if (response.status !== 403 || !/deactivated/.test(body)) throw new Error(`${user.userId} still active in the view`);
    }, 30_000);
    return { ...next, token: user.token };
  }
}

/** The address the service would send a waiting email of `userId` to now (its recipient view). */
export async function addressNow(service: RunningService, partnerId: string, userId: string): Promise<string | undefined> {
  const now = await service.app.get(RecipientDirectory).currentAddress(userId, { partnerId, email: 'unknown-to-the-view' });
  return 'to' in now ? now.to.email : undefined;
}

function stripToken(user: TestUser): UserSnapshot {
  const { token: _token, ...snapshot } = user;
  return snapshot;
}

export function recipient(user: UserSnapshot) {
  return { userId: user.userId, email: user.email, displayName: user.displayName };
}

/** Undoes Handlebars' HTML escaping of an attribute value. */
export function decodeHtml(value: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"' };
  return value.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity[0] === '#') {
      const code = entity[1].toLowerCase() === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return named[entity.toLowerCase()] ?? whole;
  });
}
