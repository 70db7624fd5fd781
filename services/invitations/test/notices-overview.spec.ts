import { fiscalYearRange } from '@lib/contracts';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { InvitationRepository } from '../src/invitations/invitation.repository';
import { eventually, servedDocs } from '@lib/testing';
import { forInvitation, FY, PORTAL, World } from './fixtures';

jest.setTimeout(90_000);

const world = new World();
beforeAll(() => world.start(), 90_000);
afterAll(() => world.stop());

const getStarted = (programId: string, locationId: string) =>
  `${PORTAL}/incentives/enroll?${new URLSearchParams({ programId, locationId, fiscalYear: FY })}`;

describe('home-page notices', () => {
  it('shows a notice until its recipient selects it once; other recipients keep theirs', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const bob = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'bob');
    const programId = await world.program({ name: 'Modern Work Incentives' });
    await world.known(ann, [l1]);
    await world.known(bob, [l1]);
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await eventually(async () => expect((await world.notices(ann)).map((n) => n.invitationId)).toEqual([invitationId]));
    expect((await world.notices(ann))[0].message).toBe(`Contoso 1 (${l1}) is invited to enroll in Modern Work Incentives (${FY}). Select Get Started to enroll.`);

    const selected = await world.post(ann.token, `/v1/notices/${invitationId}/select`);
    expect(selected.status).toBe(200);
    expect(selected.body).toMatchObject({
      invitationId,
      programId,
      programName: 'Modern Work Incentives',
      locationId: l1,
      fiscalYear: FY,
      getStartedUrl: getStarted(programId, l1),
    });
    const [event] = await world.waitEvent('NoticeSelected', forInvitation(programId, l1));
    expect(event.key).toBe(l1);
    expect(event.envelope!.data).toMatchObject({ invitationId, userId: ann.userId, partnerId: partner.partnerId });

    expect(await world.notices(ann)).toEqual([]);
    expect((await world.notices(bob)).map((n) => n.invitationId)).toEqual([invitationId]);

    // Selecting again answers the same link, publishes nothing, and still does not list it.
    const again = await world.post(ann.token, `/v1/notices/${invitationId}/select`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(selected.body);
    expect(await world.notices(ann)).toEqual([]);

    // The invitation stays valid: Enroll is still on the overview.
    const [location] = await world.overview(ann);
    expect(location.programs.find((p: { programId: string }) => p.programId === programId)).toMatchObject({
      invitationId,
      status: 'Invited',
      actions: ['ENROLL'],
      getStartedUrl: getStarted(programId, l1),
    });

    const bobSelects = await world.post(bob.token, `/v1/notices/${invitationId}/select`);
    expect(bobSelects.status).toBe(200);
    const events = await world.waitEvent('NoticeSelected', forInvitation(programId, l1), 2);
    expect(events.map((m) => m.envelope!.data.userId)).toEqual([ann.userId, bob.userId]);
    expect(await world.notices(bob)).toEqual([]);
  });
});

describe('notices of programs no longer taking enrollments', () => {
  // They stay pending for good (never listed, never selected): a listing must not read through them on every call.
  it('are not read at all: one read lists the current notice past hundreds of stale ones', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const dee = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'dee');
    const programId = await world.program({ name: `Current ${partner.partnerId}` });
    await world.known(dee, [l1]);
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await eventually(async () => expect((await world.notices(dee)).map((n) => n.invitationId)).toEqual([invitationId]));

    // 300 newer notices of hers, of a program closed since and of a year past: what years of history leave pending.
    const collection = world.service.app.get<Connection>(getConnectionToken()).collection('invitations');
    const current = (await collection.findOne({ _id: invitationId as never }))!;
    const closed = await world.program({ name: `Closed ${partner.partnerId}`, state: 'CLOSED' });
    const later = new Date(Date.now() + 60_000);
    await collection.insertMany(
      Array.from({ length: 300 }, (_, i) => ({
        ...current,
        _id: `stale-${partner.partnerId}-${i}` as never,
        ...(i % 2 ? { programId: closed } : { fiscalYear: 'FY20' }),
        issuedAt: new Date(later.getTime() + i),
        outbox: [],
      })),
    );
    const reads = jest.spyOn(world.service.app.get(InvitationRepository), 'withPendingNotice');
    try {
      const page = await world.get(dee.token, '/v1/notices?limit=1');
      expect(page.status).toBe(200);
      expect(page.body.items.map((n: { invitationId: string }) => n.invitationId)).toEqual([invitationId]);
      expect(page.body).not.toHaveProperty('nextCursor');
      expect(reads).toHaveBeenCalledTimes(1);
    } finally {
      reads.mockRestore();
    }
  });
});

describe('a notice not selected when the location is enrolled', () => {
  it('is still listed until selected, and says where another admin took the enrollment, not invited to enroll', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const programId = await world.program({ name: `Enrolled by another admin ${partner.partnerId}` });
    await world.known(ann, [l1]);
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await eventually(async () => expect((await world.notices(ann)).map((n) => n.message)).toEqual([expect.stringContaining('is invited to enroll')]));
    // Another admin started it (its payout rules met), a profile went missing, then they submitted it: the invitation
    // is still ISSUED.
    const location = `Contoso 1 (${l1})`;
    const programYear = `Enrolled by another admin ${partner.partnerId} (${FY})`;
    await world.enrollment(partner, l1, programId, 'EnrollmentStarted', 'INVITED', 1);
    await eventually(async () =>
      expect((await world.notices(ann)).map((n) => n.message)).toEqual([`${location} was invited to enroll in ${programYear}. Its enrollment is started: select Get Started to submit it.`]),
    );
    await world.enrollment(partner, l1, programId, 'EnrollmentActionRequired', 'ACTION_REQUIRED', 2, { previousStatus: 'INVITED' });
    await eventually(async () =>
      expect((await world.notices(ann)).map((n) => n.message)).toEqual([
        `${location} was invited to enroll in ${programYear}. Its enrollment needs action: select Get Started to see what is missing.`,
      ]),
    );
    await world.enrollment(partner, l1, programId, 'EnrollmentValidating', 'VALIDATING', 3, { previousStatus: 'ACTION_REQUIRED' });
    await eventually(async () =>
      expect((await world.notices(ann)).map((n) => n.message)).toEqual([`${location} was invited to enroll in ${programYear}. Its enrollment is submitted and being validated.`]),
    );
    await world.enrollment(partner, l1, programId, 'EnrollmentEnrolled', 'ENROLLED', 4, { previousStatus: 'VALIDATING' });
    await eventually(async () =>
      expect((await world.notices(ann)).map((n) => [n.invitationId, n.message])).toEqual([
        [invitationId, `Contoso 1 (${l1}) was invited to enroll in Enrolled by another admin ${partner.partnerId} (${FY}) and is now enrolled.`],
      ]),
    );
    // Validated again after an edit of its profiles: still enrolled.
    await world.enrollment(partner, l1, programId, 'EnrollmentValidating', 'VALIDATING', 5, { previousStatus: 'ENROLLED', completed: true });
    await eventually(async () => {
      const [location] = await world.overview(ann);
      expect(location.programs.find((p: { programId: string }) => p.programId === programId)).toMatchObject({ enrollmentStatus: 'VALIDATING' });
    });
    expect((await world.notices(ann)).map((n) => n.message)).toEqual([expect.stringContaining('is now enrolled')]);
    // No longer ENROLLED (a tax profile expired): the invitation stays ENROLLED, the notice says the enrollment needs action.
    await world.enrollment(partner, l1, programId, 'EnrollmentActionRequired', 'ACTION_REQUIRED', 6, { previousStatus: 'VALIDATING', completed: true });
    await eventually(async () => expect((await world.notices(ann)).map((n) => n.message)).toEqual([expect.stringContaining('Its enrollment needs action')]));
  });
});

// An operator's rollover with endYearNow expires the year's unfinished enrollments before the year is over here: the
// notice would invite to enroll, and Get Started would meet a final enrollment (409).
describe('a notice whose enrollment expired while its year still runs', () => {
  it('is no longer listed, and cannot be selected (404)', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const programId = await world.program({ name: `Expired early ${partner.partnerId}` });
    await world.known(ann, [l1]);
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await world.enrollment(partner, l1, programId, 'EnrollmentStarted', 'INVITED', 1);
    await eventually(async () => expect((await world.notices(ann)).map((n) => n.message)).toEqual([expect.stringContaining('Its enrollment is started')]));
    await world.enrollment(partner, l1, programId, 'EnrollmentExpired', 'EXPIRED', 2, { previousStatus: 'INVITED' });
    await eventually(async () => expect(await world.notices(ann)).toEqual([]));
    expect((await world.post(ann.token, `/v1/notices/${invitationId}/select`)).status).toBe(404);
  });
});

describe('a notice removed by a revocation', () => {
  // The enrollment's event comes on another topic, so it may arrive after the revocation: the invitation then reads
  // ENROLLED, but the notice the revocation removed stays removed.
  it('cannot be selected once the invitation is marked ENROLLED after the revocation (404, no event)', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const programId = await world.program({ name: `Revoked then enrolled ${partner.partnerId}` });
    await world.known(ann, [l1]);
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await world.decide(partner, l1, programId, false, { reasons: ['Partner designation lost'] });
    await world.waitEvent('InvitationRevoked', forInvitation(programId, l1));
    await world.enrollment(partner, l1, programId, 'EnrollmentEnrolled', 'ENROLLED', 4, { previousStatus: 'VALIDATING' });
    await eventually(async () => {
      const [invitation] = (await world.invitations(ann, `?locationId=${encodeURIComponent(l1)}`)).filter((i) => i.invitationId === invitationId);
      expect(invitation?.state).toBe('ENROLLED');
    });

    expect(await world.notices(ann)).toEqual([]);
    const select = await world.post(ann.token, `/v1/notices/${invitationId}/select`);
    expect(select.status).toBe(404);
    expect(select.contentType).toContain('application/problem+json');
    await world.settle(ann, partner, l1);
    expect(world.events('NoticeSelected', forInvitation(programId, l1))).toEqual([]);
  });
});

describe('select takes no body', () => {
  // SPEC §4 "Unknown fields are rejected": a field sent to select is unknown, not silently ignored.
  it('refuses a field sent to select: 400 problem+json naming it, the notice still listed and not selected', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const cid = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'cid');
    const programId = await world.program({ name: 'Security Incentives' });
    await world.known(cid, [l1]);
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await eventually(async () => expect((await world.notices(cid)).map((n) => n.invitationId)).toEqual([invitationId]));

    const refused = await world.post(cid.token, `/v1/notices/${invitationId}/select`, { locationId: 'L-OTHER', dismiss: true });
    expect(refused.status).toBe(400);
    expect(refused.contentType).toMatch(/application\/problem\+json/);
    expect(refused.body).toMatchObject({ status: 400, type: expect.stringMatching(/\/validation-error$/), instance: `/v1/notices/${invitationId}/select` });
    expect(refused.body.errors).toEqual([
      { field: 'locationId', message: 'property locationId should not exist' },
      { field: 'dismiss', message: 'property dismiss should not exist' },
    ]);
    expect((await world.notices(cid)).map((n) => n.invitationId)).toEqual([invitationId]);
    expect(world.events('NoticeSelected', forInvitation(programId, l1))).toEqual([]);

    // An empty JSON object is no field: it selects, as no body does.
    const selected = await world.post(cid.token, `/v1/notices/${invitationId}/select`, {});
    expect(selected).toMatchObject({ status: 200, body: { invitationId, programId, locationId: l1 } });
    expect(await world.notices(cid)).toEqual([]);
  });

  it('does not document a required body for select', async () => {
    await expect(servedDocs(world.service.url, ['/v1/notices'])).resolves.toBeDefined(); // the page at /docs too
    const docs = await world.get(undefined, '/docs-json');
    expect(docs.body.paths['/v1/notices/{invitationId}/select'].post.requestBody?.required ?? false).toBe(false);
  });
});

describe('incentives overview', () => {
  it('shows open programs without any invitation or email, with the enrollment status and Enroll for admins only', async () => {
    const partner = await world.partner(2);
    const [l1, l2] = partner.locationIds;
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'admin');
    const reader = await world.user(partner, [['INCENTIVES_USER', [l1]]], 'reader');
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const open = await world.program({ requiresEligibility: false, name: `Open ${partner.partnerId}` });
    const closed = await world.program({ requiresEligibility: false, state: 'CLOSED', name: `Closed ${partner.partnerId}` });
    const invited = await world.program({ name: `Invited ${partner.partnerId}` });
    await world.known(admin, [l1]);
    await world.known(reader, [l1]);
    await world.known(global, [l1, l2]);

    // An eligible decision for an open program sends nothing.
    await world.decide(partner, l1, open, true);
    await world.decide(partner, l1, invited, true);
    await world.waitEvent('InvitationIssued', forInvitation(invited, l1));
    await world.settle(admin, partner, l1);
    for (const type of ['InvitationIssued', 'AdminAssignmentRequested', 'InvitationDelivered']) {
      expect(world.events(type, (d) => d.programId === open || d.programId === closed)).toEqual([]);
    }

    const entries = async (user: typeof admin, locationId: string) => {
      const location = (await world.overview(user)).find((l) => l.locationId === locationId);
      return location.programs.filter((p: { programId: string }) => [open, closed, invited].includes(p.programId));
    };
    await eventually(async () =>
      expect(await entries(admin, l1)).toEqual([
        expect.objectContaining({ programId: invited, requiresEligibility: true, status: 'Invited', enrollmentStatus: null, actions: ['ENROLL'] }),
        {
          programId: open,
          programName: `Open ${partner.partnerId}`,
          fiscalYear: FY,
          requiresEligibility: false,
          enrollmentStatus: null,
          status: 'Invited',
          actions: ['ENROLL'],
          getStartedUrl: getStarted(open, l1),
        },
      ]),
    );
    const [l1Location] = await world.overview(admin);
    expect(l1Location).toMatchObject({ locationId: l1, legalName: 'Contoso 1', country: 'US' });
    // An Incentives user sees the same programs without the action; a Global admin sees every location.
    expect((await entries(reader, l1)).map((p: { actions: string[] }) => p.actions)).toEqual([[], []]);
    expect((await entries(global, l2)).map((p: { programId: string; actions: string[] }) => [p.programId, p.actions])).toEqual([[open, []]]);
    expect((await world.overview(global)).map((l) => l.locationId)).toEqual([l1, l2].sort());

    // Enrollment statuses from enrollments.events.v1, in Partner Center wording.
    await world.enrollment(partner, l1, open, 'EnrollmentValidating', 'VALIDATING', 2);
    await world.enrollment(partner, l1, invited, 'EnrollmentActionRequired', 'ACTION_REQUIRED', 1);
    await eventually(async () =>
      expect(await entries(admin, l1)).toEqual([
        expect.objectContaining({ programId: invited, enrollmentStatus: 'ACTION_REQUIRED', status: 'Action required', actions: ['ENROLL'] }),
        expect.objectContaining({ programId: open, enrollmentStatus: 'VALIDATING', status: 'Validating enrollment', actions: [] }),
      ]),
    );

    // A program that closes leaves the overview of locations not enrolled in it.
    await world.program({ programId: open, requiresEligibility: false, state: 'CLOSED', name: `Open ${partner.partnerId}`, revision: 2 });
    await eventually(async () => expect((await entries(global, l2)).map((p: { programId: string }) => p.programId)).toEqual([]));
    expect((await entries(admin, l1)).find((p: { programId: string }) => p.programId === open)).toMatchObject({
      status: 'Validating enrollment',
      actions: [],
    });
  });

  // As the enrollment API labels it: the overview said "Invited" where the enrollment list said "Enrolling".
  it('shows a reader "Enrolling" for an invited enrollment Enroll has started (waiting for Submit), "Invited" for one nobody started', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const reader = await world.user(partner, [['INCENTIVES_USER', [l1]]], 'reader');
    const started = await world.program({ name: `A started ${partner.partnerId}` });
    const untouched = await world.program({ name: `B untouched ${partner.partnerId}` });
    await world.known(reader, [l1]);
    await world.enrollment(partner, l1, started, 'EnrollmentStarted', 'INVITED', 1);
    await world.enrollment(partner, l1, untouched, 'EnrollmentInvited', 'INVITED', 2, { previousStatus: 'INELIGIBLE' });
    await eventually(async () => {
      const location = (await world.overview(reader)).find((l) => l.locationId === l1);
      const shown = location.programs.filter((p: { programId: string }) => [started, untouched].includes(p.programId));
      expect(shown.map((p: { programId: string; status: string; enrollmentStatus: string }) => [p.programId, p.status, p.enrollmentStatus])).toEqual([
        [started, 'Enrolling', 'INVITED'],
        [untouched, 'Invited', 'INVITED'],
      ]);
    });
  });
});

describe('the overview, a page of locations at a time', () => {
  it('walks every visible location once, in PartnerID order, with its programs; a user with roles on a few reads only those; bad paging is a 400', async () => {
    const partner = await world.partner(5);
    const sorted = [...partner.locationIds].sort();
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    const few = await world.user(partner, [['INCENTIVES_ADMIN', [sorted[1]]], ['INCENTIVES_USER', [sorted[3], sorted[4]]]], 'few');
    const open = await world.program({ requiresEligibility: false, name: `Paged ${partner.partnerId}` });
    await world.known(global, sorted);
    await world.known(few, [sorted[1], sorted[3], sorted[4]]);
    // The program comes on its own topic: known once the overview shows it (published, not yet consumed, it is not).
    await eventually(async () => {
      const locations = (await world.overview(global)).filter((l: { locationId: string }) => sorted.includes(l.locationId));
      expect(locations.map((l: { programs: Array<{ programId: string }> }) => l.programs.some((p) => p.programId === open))).toEqual(sorted.map(() => true));
    });
    const walk = async (user: typeof global, limit: number) => {
      const pages: string[][] = [];
      let after: string | undefined;
      do {
        const page = await world.get(user.token, `/v1/overview?limit=${limit}${after ? `&cursor=${after}` : ''}`);
        expect(page.status).toBe(200);
        pages.push(page.body.locations.map((l: { locationId: string; programs: Array<{ programId: string }> }) => {
          expect(l.programs.map((p) => p.programId)).toContain(open);
          return l.locationId;
        }));
        after = page.body.nextCursor;
      } while (after);
      return pages;
    };
    expect(await walk(global, 2)).toEqual([sorted.slice(0, 2), sorted.slice(2, 4), sorted.slice(4)]);
    expect(await walk(few, 2)).toEqual([[sorted[1], sorted[3]], [sorted[4]]]);
    expect(await walk(few, 3)).toEqual([[sorted[1], sorted[3], sorted[4]]]);
    // At most 200 locations a page (each brings its whole history): 201 is refused, 200 taken.
    expect((await world.get(global.token, '/v1/overview?limit=200')).status).toBe(200);
    for (const [query, field] of [['limit=0', 'limit'], ['limit=201', 'limit'], ['limit=1001', 'limit'], ['cursor=nope', 'cursor']]) {
      const answer = await world.get(global.token, `/v1/overview?${query}`);
      expect(answer.status).toBe(400);
      expect(answer.contentType).toMatch(/application\/problem\+json/);
      expect(answer.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
  });
});

describe('notices, a page at a time', () => {
  it('walks every listed notice once, the newest first, past those not listed now (a closed program); bad paging is a 400', async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    await world.known(ann, [l1]);
    // Five invitations issued one after the other; the third program then closes.
    const issued: Array<{ programId: string; invitationId: string }> = [];
    for (let i = 0; i < 5; i++) {
      const programId = await world.program({ name: `Notice ${i} ${partner.partnerId}` });
      await world.decide(partner, l1, programId, true);
      const [event] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
      issued.push({ programId, invitationId: event.envelope!.data.invitationId });
    }
    await world.program({ programId: issued[2].programId, name: `Notice 2 ${partner.partnerId}`, state: 'CLOSED', revision: 2 });
    const listed = issued.filter((_, i) => i !== 2).map((n) => n.invitationId).reverse();
    await eventually(async () => expect((await world.notices(ann)).map((n) => n.invitationId)).toEqual(listed));

    const walk = async (limit: number) => {
      const pages: string[][] = [];
      let after: string | undefined;
      do {
        const page = await world.get(ann.token, `/v1/notices?limit=${limit}${after ? `&cursor=${after}` : ''}`);
        expect(page.status).toBe(200);
        pages.push(page.body.items.map((n: { invitationId: string }) => n.invitationId));
        after = page.body.nextCursor;
      } while (after);
      return pages;
    };
    expect(await walk(2)).toEqual([listed.slice(0, 2), listed.slice(2, 4)]);
    expect(await walk(3)).toEqual([listed.slice(0, 3), listed.slice(3)]);
    expect(await walk(4)).toEqual([listed]);
    for (const [query, field] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['cursor=nope', 'cursor']]) {
      const answer = await world.get(ann.token, `/v1/notices?${query}`);
      expect(answer.status).toBe(400);
      expect(answer.contentType).toMatch(/application\/problem\+json/);
      expect(answer.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
  });
});

describe('after the end of a fiscal year (the service\'s Clock moved)', () => {
  it(`lists no notice and offers no Enroll of programs still in ${FY} once it is over; revocation still applies`, async () => {
    const partner = await world.partner(1);
    const [l1] = partner.locationIds;
    const ann = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'ann');
    const invited = await world.program({ name: `Invited ${partner.partnerId}` });
    const open = await world.program({ requiresEligibility: false, name: `Open ${partner.partnerId}` });
    const started = await world.program({ requiresEligibility: false, name: `Started ${partner.partnerId}` });
    await world.known(ann, [l1]);
    await world.decide(partner, l1, invited, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(invited, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await world.enrollment(partner, l1, started, 'EnrollmentStarted', 'ACTION_REQUIRED', 1);

    const entries = async () => {
      const [location] = await world.overview(ann);
      return location.programs
        .filter((p: { programId: string }) => [invited, open, started].includes(p.programId))
        .map((p: any) => [p.programId, p.fiscalYear, p.status, p.actions, p.getStartedUrl !== undefined]);
    };
    const noticesOfAnn = async () => (await world.notices(ann)).map((n) => n.invitationId);
    // Before FY's end: the notice, and Enroll with its link on all three.
    await eventually(async () => expect(await noticesOfAnn()).toEqual([invitationId]));
    await eventually(async () =>
      expect(await entries()).toEqual([
        [invited, FY, 'Invited', ['ENROLL'], true],
        [open, FY, 'Invited', ['ENROLL'], true],
        [started, FY, 'Action required', ['ENROLL'], true],
      ]),
    );

    // The first instant after FY; the operator has not moved the programs to the next year yet (Enroll would answer
    // 409): nothing of FY is offered. The enrollment started in FY stays, with its status and no action.
    const clock = world.clockAt(fiscalYearRange(FY).end);
    try {
      expect(await world.notices(ann)).toEqual([]);
      expect(await entries()).toEqual([[started, FY, 'Action required', [], false]]);
      const select = await world.post(ann.token, `/v1/notices/${invitationId}/select`);
      expect(select.status).toBe(404);
      expect(world.events('NoticeSelected', forInvitation(invited, l1))).toEqual([]);

      // Losing eligibility still revokes the invitation.
      await world.decide(partner, l1, invited, false, { reasons: ['Partner designation lost'] });
      const [revoked] = await world.waitEvent('InvitationRevoked', forInvitation(invited, l1));
      expect(revoked.envelope!.data).toMatchObject({ invitationId, reasons: ['Partner designation lost'] });
    } finally {
      clock.mockRestore();
    }
  });
});

describe('authorization', () => {
  it("shows a user nothing of another partner, nor of locations they hold no role on", async () => {
    const partner = await world.partner(2);
    const [l1, l2] = partner.locationIds;
    const admin = await world.user(partner, [['INCENTIVES_ADMIN', [l1]]], 'admin');
    const reader = await world.user(partner, [['INCENTIVES_USER', [l1]]], 'reader');
    const neighbour = await world.user(partner, [['INCENTIVES_ADMIN', [l2]]], 'neighbour');
    const programId = await world.program();

    const other = await world.partner(1);
    const stranger = await world.user(other, [['GLOBAL_ADMIN', ['*']], ['INCENTIVES_ADMIN', ['*']]], 'stranger');
    // The same user id, signed for the other partner, must not pass as this partner's admin.
    const forged = { ...admin, token: await world.issuer.token({ sub: admin.userId, partnerId: other.partnerId }) };

    await world.known(admin, [l1]);
    await world.known(reader, [l1]);
    await world.known(neighbour, [l2]);
    await world.known(stranger, other.locationIds);
    await world.decide(partner, l1, programId, true);
    const [issued] = await world.waitEvent('InvitationIssued', forInvitation(programId, l1));
    const invitationId = issued.envelope!.data.invitationId;
    await eventually(async () => expect((await world.notices(admin)).map((n) => n.invitationId)).toEqual([invitationId]));

    // Another partner: absent from every list, 404 on select and on read.
    expect(await world.notices(stranger)).toEqual([]);
    expect((await world.overview(stranger)).map((l) => l.locationId)).toEqual(other.locationIds);
    expect(await world.invitations(stranger)).toEqual([]);
    for (const attempt of [
      await world.post(stranger.token, `/v1/notices/${invitationId}/select`),
      await world.get(stranger.token, `/v1/invitations/${invitationId}`),
    ]) {
      expect(attempt.status).toBe(404);
      expect(attempt.contentType).toMatch(/application\/problem\+json/);
      expect(JSON.stringify(attempt.body)).not.toContain(programId);
    }
    expect((await world.get(stranger.token, `/v1/invitations?locationId=${l1}`)).status).toBe(404);
    expect((await world.get(forged.token, '/v1/notices')).status).toBe(403);
    expect((await world.post(forged.token, `/v1/notices/${invitationId}/select`)).status).toBe(403);

    // Same partner, another location: nothing of l1, and no notice to select.
    expect(await world.notices(neighbour)).toEqual([]);
    expect((await world.overview(neighbour)).map((l) => l.locationId)).toEqual([l2]);
    expect(await world.invitations(neighbour)).toEqual([]);
    expect((await world.post(neighbour.token, `/v1/notices/${invitationId}/select`)).status).toBe(404);
    expect((await world.get(neighbour.token, `/v1/invitations?locationId=${l1}`)).status).toBe(403);

    // An Incentives user of l1 sees the program but has no notice and no Enroll.
    expect(await world.notices(reader)).toEqual([]);
    expect((await world.post(reader.token, `/v1/notices/${invitationId}/select`)).status).toBe(404);
    const [location] = await world.overview(reader);
    expect(location.programs.find((p: { programId: string }) => p.programId === programId)).toMatchObject({ actions: [] });

    // No token at all.
    expect((await world.get(undefined, '/v1/notices')).status).toBe(401);
    expect((await world.get(undefined, '/v1/overview')).status).toBe(401);

    // Nothing above changed the admin's notice.
    expect((await world.notices(admin)).map((n) => n.invitationId)).toEqual([invitationId]);
    expect(world.events('NoticeSelected', forInvitation(programId, l1))).toEqual([]);
  });

  it('answers 403 to a user of the partner holding no role on the overview and the notices (SPEC: everyone else gets 403), 200 once given one', async () => {
    const partner = await world.partner(1);
    const plain = await world.user(partner, [], 'plain');
    // Known to the service (the other 403, of a user it has not heard of, says "yet").
    await eventually(async () => {
      for (const path of ['/v1/overview', '/v1/notices']) {
        const answer = await world.get(plain.token, path);
        expect(answer.status).toBe(403);
        expect(answer.contentType).toMatch(/application\/problem\+json/);
        expect(answer.body.detail).toMatch(/hold no incentives role and no company admin role/);
      }
    }, 30_000);
    await world.assignRole(plain, 'INCENTIVES_USER', partner.locationIds);
    await eventually(async () => {
      expect((await world.get(plain.token, '/v1/overview')).status).toBe(200);
      expect((await world.get(plain.token, '/v1/notices')).status).toBe(200);
    }, 30_000);
  });
});

describe('API surface', () => {
  it('documents its endpoints in OpenAPI and rejects unknown or invalid query fields with problem+json', async () => {
    const docs = await world.get(undefined, '/docs-json');
    expect(docs.status).toBe(200);
    expect(Object.keys(docs.body.paths)).toEqual(
      expect.arrayContaining(['/v1/notices', '/v1/notices/{invitationId}/select', '/v1/overview', '/v1/invitations', '/v1/invitations/{invitationId}']),
    );

    const partner = await world.partner(1);
    const global = await world.user(partner, [['GLOBAL_ADMIN', ['*']]], 'global');
    await world.known(global, partner.locationIds);
    const unknown = await world.get(global.token, '/v1/invitations?colour=blue');
    expect(unknown.status).toBe(400);
    expect(unknown.contentType).toMatch(/application\/problem\+json/);
    const invalid = await world.get(global.token, '/v1/invitations?state=MAYBE');
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors).toEqual([expect.objectContaining({ field: 'state' })]);
  });
});
