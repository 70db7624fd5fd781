import { Clock } from '@lib/platform';
import { NO_ROLE } from '@lib/access';
import { createEnvelope, decisionRef, Envelope, EnrollmentStatus, fiscalYearOf, LogPosition, nextFiscalYear, ProgramState, Role, Topics, UserSnapshot } from '@lib/contracts';
import { bootService, eventually, groupCaughtUp, outboxSettled, ReceivedMessage, RunningService, startGroupAtEnd, TestIssuer, TestKafka, TopicWatch, uniqueName } from '@lib/testing';
import { deadLetterTopic } from '@lib/contracts';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { AppModule } from '../src/app.module';
import { CatchUpGate } from '../src/invitations/catch-up/catch-up-gate';
import { FirstCatchUp } from '../src/invitations/catch-up/first-catch-up';

export const PORTAL = 'https://partner.portal.test';
/**
 * The fiscal year of tomorrow, and the next: the specs' programs and decisions are in FY, which is never over while
 * they run (the service invites to no year that is over), so they read the same on any date. Tomorrow's, so that a
 * run started on June 30 does not see its year end half-way.
 */
export const FY = fiscalYearOf(new Date(Date.now() + 86_400_000));
export const NEXT_FY = nextFiscalYear(FY);

export interface TestUser {
  userId: string;
  partnerId: string;
  email: string;
  displayName: string;
  roles: UserSnapshot['roles'];
  revision: number;
  token: string;
}

export interface TestPartner {
  partnerId: string;
  locationIds: string[];
}

export interface InvitationEventData {
  invitationId: string;
  programId: string;
  programName?: string;
  partnerId: string;
  locationId: string;
  fiscalYear: string;
  invitationVersion?: number;
  programRevision?: number;
  recipients?: Array<{ userId: string; email: string; displayName?: string }>;
  channels?: string[];
  getStartedUrl?: string;
  requiresEligibility?: boolean;
  userId?: string;
  reasons?: string[];
  decision?: { eventId: string; decidedAt: string };
  late?: boolean;
}

/**
 * One booted invitations service and the outside world around it, spoken to only through the real broker
 * (identity, program, eligibility and enrollment events) and the service's HTTP API.
 */
export class World {
  readonly issuer = new TestIssuer();
  readonly kafka = new TestKafka();
  service!: RunningService;
  watch!: TopicWatch;

  /**
   * Boots the service with a new database and consumer group, the group positioned at the end of the topics it
   * consumes. `history`: published after that positioning and before the boot, so the service reads it as the history
   * already on its topics when it first starts (a new deployment on a running platform).
   */
  async start({ history, historyFloors = false }: { history?: () => Promise<void>; historyFloors?: boolean } = {}): Promise<void> {
    await this.issuer.start();
    this.watch = await this.kafka.watch([Topics.invitations, deadLetterTopic(Topics.eligibility)]);
    const groupId = uniqueName('invitations');
    await startGroupAtEnd(groupId, CONSUMED_TOPICS);
    await history?.();
    this.service = await bootService(AppModule, {
      name: 'invitations',
      // The topic, shared by the test run, holds other suites' invitations, none of this new database's: not read for
      // floors (INVITATIONS_HISTORY_FLOORS), but where a spec says so.
      env: { ...this.issuer.env(), PORTAL_BASE_URL: PORTAL, KAFKA_GROUP_ID: groupId, INVITATIONS_HISTORY_FLOORS: String(historyFloors) },
    });
    await eventually(async () => {
      const response = await fetch(`${this.service.url}/health/ready`);
      if (response.status !== 200) throw new Error(`not ready: ${response.status}`);
    }, 60_000);
    // Caught up with what was on its topics at its start (other test files' messages published since the group was
    // positioned, or `history`), and what it put off meanwhile reconciled: what the tests publish from now on is
    // decided as it is handled, in the order of its partition.
    // (Its outcome is not asserted: a reconcile of another file's invitation that failed stays put off, for the sweep.)
    await this.service.app.get(FirstCatchUp).running;
    expect(this.service.app.get(CatchUpGate).isOpen).toBe(true);
  }

  async stop(): Promise<void> {
    await this.service?.close();
    await this.kafka.close();
    await this.issuer.stop();
  }

  /** Moves the service's Clock (reconciling, notices, overview) to `at`; `mockRestore()` on the answer moves it back. */
  clockAt(at: Date): jest.SpyInstance<Date, []> {
    return jest.spyOn(this.service.app.get(Clock), 'now').mockReturnValue(at);
  }

  // ---- identity.events.v1 (key partnerId) ----

  async partner(locations = 2): Promise<TestPartner> {
    const partnerId = `P-${randomUUID()}`;
    const locationIds = Array.from({ length: locations }, (_, i) => `L${i + 1}-${randomUUID()}`);
    await this.kafka.publishEvent(Topics.identity, partnerId, {
      type: 'PartnerRegistered',
      data: {
        partnerId,
        name: 'Contoso',
        locations: locationIds.map((locationId, i) => ({ locationId, country: 'US', legalName: `Contoso ${i + 1}` })),
      },
    });
    return { partnerId, locationIds };
  }

  /** A user created with these roles (company roles on `*`). */
  async user(partner: TestPartner, roles: Array<[Role, string[]]> = [], name = 'user'): Promise<TestUser> {
    const userId = `u-${name}-${randomUUID()}`;
    const user: TestUser = {
      userId,
      partnerId: partner.partnerId,
      email: `${name}.${userId.slice(-12)}@contoso.example.com`,
      displayName: `${name[0].toUpperCase()}${name.slice(1)} Example`,
      roles: roles.map(([role, locationIds]) => ({ role, locationIds })),
      revision: 1,
      token: await this.issuer.token({ sub: userId, partnerId: partner.partnerId }),
    };
    await this.kafka.publishEvent(Topics.identity, partner.partnerId, {
      type: 'UserCreated',
      data: { user: snapshot(user) },
    });
    return user;
  }

  async assignRole(user: TestUser, role: Role, locationIds: string[]): Promise<void> {
    user.revision += 1;
    user.roles = [...user.roles.filter((r) => r.role !== role), { role, locationIds }];
    await this.kafka.publishEvent(Topics.identity, user.partnerId, {
      type: 'RoleAssigned',
      data: { user: snapshot(user), role, locationIds, changedBy: 'test' },
    });
  }

  /** The role taken away on these locations (the grant goes when none is left). Answers the envelope, to redeliver it. */
  async revokeRole(user: TestUser, role: Role, locationIds: string[]): Promise<Envelope> {
    user.revision += 1;
    user.roles = user.roles
      .map((grant) => (grant.role === role ? { role, locationIds: grant.locationIds.filter((l) => !locationIds.includes(l)) } : grant))
      .filter((grant) => grant.locationIds.length > 0);
    return this.kafka.publishEvent(Topics.identity, user.partnerId, {
      type: 'RoleRevoked',
      data: { user: snapshot(user), role, locationIds, changedBy: 'test' },
    });
  }

  /** Answers the envelope, to redeliver it. The user keeps their roles (identity keeps them on a deactivated user). */
  async deactivate(user: TestUser): Promise<Envelope> {
    user.revision += 1;
    return this.kafka.publishEvent(Topics.identity, user.partnerId, {
      type: 'UserDeactivated',
      data: { user: { ...snapshot(user), active: false } },
    });
  }

  /**
   * Every identity event published so far for the partner has been handled by this service (both of its handlers):
   * a new user's event, on the same partition (key partnerId), has reached the role view.
   */
  async identityHandled(partner: TestPartner): Promise<void> {
    await this.known(await this.user(partner, [], 'barrier'), []);
  }

  // ---- programs.events.v1 (key programId) ----

  async program(
    options: {
      requiresEligibility?: boolean;
      state?: ProgramState;
      name?: string;
      programId?: string;
      revision?: number;
      fiscalYear?: string;
    } = {},
  ): Promise<string> {
    const programId = options.programId ?? `PRG-${randomUUID()}`;
    await this.kafka.publishEvent(Topics.programs, programId, {
      type: (options.revision ?? 1) > 1 ? 'ProgramUpdated' : 'ProgramCreated',
      data: {
        program: {
          programId,
          name: options.name ?? `Program ${programId.slice(-6)}`,
          fiscalYear: options.fiscalYear ?? FY,
          requiresEligibility: options.requiresEligibility ?? true,
          payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true },
          state: options.state ?? 'OPEN',
          revision: options.revision ?? 1,
        },
      },
    });
    return programId;
  }

  // ---- eligibility.decisions.v1 (key locationId) ----

  decisionEnvelope(
    partner: TestPartner,
    locationId: string,
    programId: string,
    eligible: boolean,
    options: { reasons?: string[]; occurredAt?: Date; fiscalYear?: string } = {},
  ): Envelope {
    return createEnvelope({
      type: 'EligibilityDetermined',
      source: 'eligibility-system',
      partnerId: partner.partnerId,
      locationId,
      occurredAt: options.occurredAt,
      data: {
        programId,
        locationId,
        partnerId: partner.partnerId,
        fiscalYear: options.fiscalYear ?? FY,
        eligible,
        reasons: options.reasons ?? [],
      },
    });
  }

  async decide(
    partner: TestPartner,
    locationId: string,
    programId: string,
    eligible: boolean,
    options: { reasons?: string[]; occurredAt?: Date; fiscalYear?: string } = {},
  ): Promise<Envelope> {
    const envelope = this.decisionEnvelope(partner, locationId, programId, eligible, options);
    await this.kafka.publish(Topics.eligibility, locationId, envelope);
    return envelope;
  }

  // ---- enrollments.events.v1 (key locationId) ----

  /**
   * An enrollment event as the enrollment service publishes it (the enrollment as it now is). `fiscalYear` defaults to
   * FY; `fromFiscalYear` marks a continuation by the fiscal-year rollover.
   */
  async enrollment(
    partner: TestPartner,
    locationId: string,
    programId: string,
    type: string,
    status: EnrollmentStatus,
    revision: number,
    options: {
      fiscalYear?: string;
      previousStatus?: EnrollmentStatus;
      fromFiscalYear?: string;
      completed?: boolean;
      decision?: Pick<Envelope, 'eventId' | 'occurredAt'> & { position?: LogPosition };
    } = {},
  ): Promise<void> {
    const fiscalYear = options.fiscalYear ?? FY;
    await this.kafka.publishEvent(Topics.enrollments, locationId, {
      type,
      data: {
        enrollmentId: `enr-${programId}-${locationId}-${fiscalYear}`,
        programId,
        partnerId: partner.partnerId,
        locationId,
        fiscalYear,
        status,
        ...(options.previousStatus && { previousStatus: options.previousStatus }),
        ...(options.fromFiscalYear && { fromFiscalYear: options.fromFiscalYear }),
        ...(options.completed !== undefined && { completed: options.completed }),
        // The decision that ended it (EnrollmentIneligible), as the enrollment service names it.
        ...(options.decision && { decision: decisionRef({ eventId: options.decision.eventId, decidedAt: options.decision.occurredAt, position: options.decision.position }) }),
        reasons: [],
        missing: [],
        revision,
      },
    });
  }

  // ---- HTTP ----

  async get(token: string | undefined, path: string): Promise<{ status: number; body: any; contentType: string | null }> {
    const response = await fetch(`${this.service.url}${path}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: response.status, body: await response.json(), contentType: response.headers.get('content-type') };
  }

  /** A POST without a body, or with `body` as JSON. */
  async post(token: string, path: string, body?: unknown): Promise<{ status: number; body: any; contentType: string | null }> {
    const response = await fetch(`${this.service.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json(), contentType: response.headers.get('content-type') };
  }

  async overview(user: TestUser): Promise<any[]> {
    const response = await this.get(user.token, '/v1/overview');
    if (response.status !== 200) throw new Error(`overview: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.locations;
  }

  async notices(user: TestUser): Promise<any[]> {
    const response = await this.get(user.token, '/v1/notices');
    if (response.status !== 200) throw new Error(`notices: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.items;
  }

  async invitations(user: TestUser, query = ''): Promise<any[]> {
    const response = await this.get(user.token, `/v1/invitations${query}`);
    if (response.status !== 200) throw new Error(`invitations: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.items;
  }

  /**
   * Waits until the service knows the user with these visible locations: the role view has applied their latest
   * snapshot, so a decision published now is decided with this user's roles.
   */
  async known(user: TestUser, locationIds: string[]): Promise<void> {
    await eventually(async () => {
      // No location: either no role at all (403 NO_ROLE, which only a user the service knows gets) or a role that
      // shows none.
      if (!locationIds.length) {
        const response = await this.get(user.token, '/v1/overview');
        if (response.status === 403) expect(response.body.detail).toBe(NO_ROLE);
        else expect(response.body.locations).toEqual([]);
        return;
      }
      const locations = await this.overview(user);
      expect(locations.map((l) => l.locationId).sort()).toEqual([...locationIds].sort());
    });
  }

  // ---- invitations.events.v1 ----

  /**
   * Distinct events (by eventId) of this type. Every test file boots its own invitations service on the same
   * topics, so each fact may be published once per running service, always with the same deterministic eventId:
   * consumers treat those copies as one event, and so do the tests.
   */
  events(type: string, filter: (data: InvitationEventData) => boolean): ReceivedMessage<InvitationEventData>[] {
    const seen = new Set<string>();
    return this.watch
      .ofType<InvitationEventData>(type, (m) => m.topic === Topics.invitations && filter(m.envelope!.data))
      .filter((m) => !seen.has(m.envelope!.eventId) && Boolean(seen.add(m.envelope!.eventId)));
  }

  async waitEvent(
    type: string,
    filter: (data: InvitationEventData) => boolean,
    count = 1,
  ): Promise<ReceivedMessage<InvitationEventData>[]> {
    return eventually(async () => {
      const found = this.events(type, filter);
      if (found.length < count) throw new Error(`expected ${count} distinct ${type}, found ${found.length}`);
      return found;
    }, 30_000);
  }

  /**
   * Everything published before now about `locationId` has been handled by this service, and every event that
   * handling made it publish is on the watch: what a "nothing was published" check may be made after.
   *
   * 1. A marker decision for a fresh program on the same location (same key, so same partition of
   *    eligibility.decisions.v1, handled after the earlier ones) has become an invitation `viewer` can read: every
   *    earlier decision's write, with its outbox entries, is committed. That is DB state only: the outbox relay
   *    publishes those entries later, on its own. The marker's program and decision are in `fiscalYear` (FY unless
   *    given: a test that moved the clock past FY's end passes a year that is not over, or the marker is never issued).
   * 2. Everything written so far is on the watch (outboxSettled: the outboxes drained, then a sentinel on the same
   *    key). Seeing the marker's own event would not prove it: the relay keeps one document's events in order, not
   *    strictly those of different documents.
   */
  async settle(viewer: TestUser, partner: TestPartner, locationId: string, fiscalYear = FY): Promise<void> {
    // 0. Every message already on the topics it consumes is handled (its offset committed): the marker below proves it
    //    for eligibility.decisions.v1 only, and enrollment events (another topic) have no order with it.
    await groupCaughtUp(this.service.env.KAFKA_GROUP_ID, CONSUMED_TOPICS);
    const programId = await this.program({ name: 'Marker', fiscalYear });
    await this.decide(partner, locationId, programId, true, { fiscalYear });
    await eventually(async () => {
      const invitations = await this.invitations(viewer, `?locationId=${encodeURIComponent(locationId)}`);
      expect(invitations.map((i) => i.programId)).toContain(programId);
    }, 30_000);
    await outboxSettled({
      collection: this.service.app.get<Connection>(getConnectionToken()).collection('invitations'),
      filter: { locationId },
      kafka: this.kafka,
      watch: this.watch,
      topic: Topics.invitations,
      keys: [locationId],
    });
  }
}

const CONSUMED_TOPICS = [Topics.identity, Topics.eligibility, Topics.programs, Topics.enrollments];

function snapshot(user: TestUser): UserSnapshot {
  return {
    userId: user.userId,
    partnerId: user.partnerId,
    email: user.email,
    displayName: user.displayName,
    active: true,
    roles: user.roles,
    revision: user.revision,
  };
}

export const forInvitation = (programId: string, locationId: string) => (data: InvitationEventData) =>
  data.programId === programId && data.locationId === locationId;

export const forYear = (programId: string, locationId: string, fiscalYear: string) => (data: InvitationEventData) =>
  data.programId === programId && data.locationId === locationId && data.fiscalYear === fiscalYear;
