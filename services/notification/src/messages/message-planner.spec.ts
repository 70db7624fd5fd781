import { AccessPolicy, AccessUser } from '@lib/access';
import { createEnvelope, fiscalYearOf, fiscalYearRange, Recipient, Role, Topics } from '@lib/contracts';
import type { Model } from 'mongoose';
import { RecipientDirectory } from '../recipients/recipient-directory';
import { MessagePlanner } from './message-planner';

const PARTNER = 'P-1';
/** Invitations of a year that is not over (one read after its year tells nobody). */
const CURRENT_FY = fiscalYearOf(new Date(Date.now() + 86_400_000));

function user(id: string, role: Role, active = true, locationIds = ['*']): AccessUser {
  return {
    _id: id,
    partnerId: PARTNER,
    email: `${id}@contoso.example.com`,
    displayName: id,
    active,
    roles: [{ role, locationIds }],
    grants: locationIds.map((locationId) => `${role}:${locationId}`),
    revision: 1,
  } as AccessUser;
}

/** The recipient view as the directory reads it through AccessPolicy and the users collection: these users, nothing else. */
function planner(users: AccessUser[]): MessagePlanner {
  const active = (partnerId: string) => users.filter((u) => u.partnerId === partnerId && u.active);
  const policy = {
    userById: async (id: string) => users.find((u) => u._id === id),
    companyAdmins: async (partnerId: string) => active(partnerId).filter((u) => u.roles.some((r) => r.role === 'GLOBAL_ADMIN' || r.role === 'ACCOUNT_ADMIN')),
    holders: async (partnerId: string, locationId: string, role: Role) =>
      active(partnerId).filter((u) => u.grants.includes(`${role}:${locationId}`) || u.grants.includes(`${role}:*`)),
    // L-1 is the partner's; L-9 another partner's.
    locationById: async (id: string) => (id === 'L-9' ? { _id: 'L-9', partnerId: 'P-2', legalName: 'Fabrikam GmbH' } : { _id: id, partnerId: PARTNER, legalName: 'Northwind Traders' }),
  } as unknown as AccessPolicy;
  // allIncentivesAdmins: find({ partnerId, active: true, 'roles.role': 'INCENTIVES_ADMIN' }).sort({ _id: 1 }).lean()
  const model = {
    find: ({ partnerId }: { partnerId: string }) => ({
      sort: () => ({ lean: async () => active(partnerId).filter((u) => u.roles.some((r) => r.role === 'INCENTIVES_ADMIN')) }),
    }),
  } as unknown as Model<AccessUser>;
  const directory = new RecipientDirectory(policy, model);
  return new MessagePlanner(directory, { PORTAL_BASE_URL: 'https://portal.test' });
}

const named = (u: AccessUser): Recipient => ({ userId: u._id, email: u.email, displayName: u.displayName });

function adminNeeded(recipients: Recipient[]) {
  return createEnvelope({
    type: 'AdminAssignmentRequested',
    source: 'invitations',
    partnerId: PARTNER,
    locationId: 'L-1',
    data: { invitationId: 'inv-1', programId: 'prog-1', partnerId: PARTNER, locationId: 'L-1', fiscalYear: CURRENT_FY, recipients },
  });
}

describe('MessagePlanner, admin needed', () => {
  it('still tells the current company admins when every admin the event names was deactivated since', async () => {
    const gone = user('gone', 'GLOBAL_ADMIN', false);
    const account = user('account', 'ACCOUNT_ADMIN');
    const plan = await planner([gone, account]).plan(Topics.invitations, adminNeeded([named(gone)]));
    // The deactivated one is marked (CreateMessages looks again once the view caught up, then drops them).
    expect(plan?.recipients.map((r) => `${r.userId}${r.active === false ? ' (deactivated)' : ''}`)).toEqual(['gone (deactivated)', 'account']);
  });

  it('tells the named admins (those deactivated marked), each once, and no other company admin while one of them can be told', async () => {
    const global = user('global', 'GLOBAL_ADMIN');
    const account = user('account', 'ACCOUNT_ADMIN');
    const gone = user('gone', 'ACCOUNT_ADMIN', false);
    const unknown: Recipient = { userId: 'not-in-view-yet', email: 'new@contoso.example.com', displayName: 'New' };
    const plan = await planner([global, account, gone]).plan(Topics.invitations, adminNeeded([named(global), named(gone), unknown, named(global)]));
    // `account` was asked by a request of its own (the invitation's first one, or one to an admin appointed since).
    expect(plan?.recipients.map((r) => `${r.userId}${r.active === false ? ' (deactivated)' : ''}`)).toEqual(['global', 'gone (deactivated)', 'not-in-view-yet']);
    expect(plan?.recipients[0]).toEqual({ userId: 'global', partnerId: PARTNER, email: global.email, displayName: 'global', roles: global.roles });
    expect(plan?.recipients[2]).not.toHaveProperty('roles'); // not in the view yet: trusted as named, not re-checked
    expect(plan?.audience).toEqual({ roles: ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'] });
  });

  it('tells the current company admins when the admins it names have lost the role since, as far as the view knows', async () => {
    const demoted = user('demoted', 'INCENTIVES_USER');
    const account = user('account', 'ACCOUNT_ADMIN');
    const plan = await planner([demoted, account]).plan(Topics.invitations, adminNeeded([named(demoted)]));
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['demoted', 'account']);
  });

  it('tells the named admins only of a late request (to company admins appointed while the invitation waits), even when they cannot be told', async () => {
    const late = (recipients: Recipient[]) => {
      const envelope = adminNeeded(recipients);
      return { ...envelope, data: { ...envelope.data, late: true } };
    };
    const asked = user('asked-before', 'GLOBAL_ADMIN');
    const appointed = user('appointed', 'ACCOUNT_ADMIN');
    const reverted = user('reverted', 'INCENTIVES_USER');
    expect((await planner([asked, appointed]).plan(Topics.invitations, late([named(appointed)])))?.recipients.map((r) => r.userId)).toEqual(['appointed']);
    expect((await planner([asked, reverted]).plan(Topics.invitations, late([named(reverted)])))?.recipients.map((r) => r.userId)).toEqual(['reverted']);
  });

  it('tells the current company admins when the event names nobody', async () => {
    const plan = await planner([user('global', 'GLOBAL_ADMIN'), user('account', 'ACCOUNT_ADMIN')]).plan(
      Topics.invitations,
      adminNeeded([]),
    );
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['global', 'account']);
  });
});

function bankActionRequired(locationIds?: string[]) {
  return createEnvelope({
    type: 'ProfileActionRequired',
    source: 'payout-profiles',
    partnerId: PARTNER,
    data: {
      profileId: 'bank-1',
      profileKind: 'BANK',
      partnerId: PARTNER,
      revision: 2,
      status: 'ACTION_REQUIRED',
      reasons: ['IBAN does not exist'],
      name: 'Main EUR account',
      ...(locationIds && { locationIds }),
    },
  });
}

describe('MessagePlanner, bank profile action required', () => {
  const l1 = user('admin-l1', 'INCENTIVES_ADMIN', true, ['L-1']);
  const l2 = user('admin-l2', 'INCENTIVES_ADMIN', true, ['L-2']);
  const l3 = user('admin-l3', 'INCENTIVES_ADMIN', true, ['L-3']);
  const everywhere = user('admin-all', 'INCENTIVES_ADMIN', true, ['*']);
  const both = user('admin-l1-l2', 'INCENTIVES_ADMIN', true, ['L-1', 'L-2']);
  const gone = user('gone-l1', 'INCENTIVES_ADMIN', false, ['L-1']);
  const reader = user('reader-l1', 'INCENTIVES_USER', true, ['L-1']);
  const global = user('global', 'GLOBAL_ADMIN');
  const view = [l1, l2, l3, everywhere, both, gone, reader, global];

  it('goes to the active Incentives admins of the one location the profile serves, and a `*` admin, nobody else', async () => {
    const plan = await planner(view).plan(Topics.payoutProfiles, bankActionRequired(['L-1']));
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['admin-all', 'admin-l1', 'admin-l1-l2']);
    expect(plan?.template).toBe('profile-action-required');
    expect(plan?.link).toBe('https://portal.test/incentives/payout-and-tax/bank/bank-1');
  });

  it('goes to the admins of each location it serves, each once', async () => {
    const plan = await planner(view).plan(Topics.payoutProfiles, bankActionRequired(['L-1', 'L-2']));
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['admin-all', 'admin-l1', 'admin-l1-l2', 'admin-l2']);
    expect(plan?.audience).toEqual({ roles: ['INCENTIVES_ADMIN'], locationIds: ['L-1', 'L-2'] });
  });

  it.each([
    ['serving every location', ['*']],
    ['written before locationIds existed', undefined],
  ])('goes to every Incentives admin of the partner for a profile %s', async (_, locationIds) => {
    const plan = await planner(view).plan(Topics.payoutProfiles, bankActionRequired(locationIds));
    expect(plan?.recipients.map((r) => r.userId).sort()).toEqual(['admin-all', 'admin-l1', 'admin-l1-l2', 'admin-l2', 'admin-l3']);
    expect(plan?.audience).toEqual({ roles: ['INCENTIVES_ADMIN'] }); // an Incentives admin of any location
  });

  it('tells each recipient whether they may change it: only an Incentives admin of every location it serves may', async () => {
    const shared = await planner(view).plan(Topics.payoutProfiles, bankActionRequired(['L-1', 'L-2']));
    const cannotChange = (plan: typeof shared) => Object.fromEntries(plan!.recipients.map((r) => [r.userId, plan!.recipientContext?.(r).cannotChange]));
    expect(cannotChange(shared)).toEqual({ 'admin-all': false, 'admin-l1': true, 'admin-l1-l2': false, 'admin-l2': true });
    const everywhere = await planner(view).plan(Topics.payoutProfiles, bankActionRequired(['*']));
    expect(cannotChange(everywhere)).toEqual({ 'admin-all': false, 'admin-l1': true, 'admin-l1-l2': true, 'admin-l2': true, 'admin-l3': true });
    // Someone may (admin-all): "ask one of them" holds.
    const nobodyCanChange = (plan: typeof shared) => new Set(plan!.recipients.map((r) => plan!.recipientContext?.(r).nobodyCanChange));
    expect(nobodyCanChange(shared)).toEqual(new Set([false]));
    expect(nobodyCanChange(everywhere)).toEqual(new Set([false]));
    // Nobody holds the role on both L-1 and L-3 (no admin of every location): each is told so, not sent looking for an
    // admin who does not exist.
    const apart = await planner(view.filter((u) => u._id !== 'admin-all')).plan(Topics.payoutProfiles, bankActionRequired(['L-1', 'L-3']));
    expect(cannotChange(apart)).toEqual({ 'admin-l1': true, 'admin-l1-l2': true, 'admin-l3': true });
    expect(nobodyCanChange(apart)).toEqual(new Set([true]));
    // A tax profile belongs to its location: every recipient, an Incentives admin of it, may change it.
    const tax = await planner(view).plan(
      Topics.payoutProfiles,
      createEnvelope({
        type: 'ProfileActionRequired',
        source: 'payout-profiles',
        partnerId: PARTNER,
        locationId: 'L-1',
        data: { profileId: 'tax-1', profileKind: 'TAX', partnerId: PARTNER, locationId: 'L-1', revision: 2, status: 'ACTION_REQUIRED', reasons: ['TIN mismatch'] },
      }),
    );
    expect(tax?.recipients.length).toBeGreaterThan(0);
    expect(tax?.recipientContext).toBeUndefined();
  });

  it('gives the company admins, told when no Incentives admin holds its locations, the note to assign one, not "ask one of them"', async () => {
    const plan = await planner([global, reader]).plan(Topics.payoutProfiles, bankActionRequired(['L-1', 'L-2']));
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['global']);
    expect(plan?.context.companyAdminNote).toMatch(/assign an Incentives admin/);
    expect(plan?.recipientContext).toBeUndefined();
  });
});

describe('MessagePlanner, recipients chosen from the view', () => {
  const admin = user('admin-l1', 'INCENTIVES_ADMIN', true, ['L-1']);
  const view = [admin, user('global', 'GLOBAL_ADMIN')];
  const event = (type: string, source: string, data: Record<string, unknown>) =>
    createEnvelope({ type, source, partnerId: PARTNER, locationId: 'L-1', data: { partnerId: PARTNER, locationId: 'L-1', ...data } });
  const invitation = { invitationId: 'inv-1', programId: 'prog-1', fiscalYear: CURRENT_FY, recipients: [named(admin)] };

  it.each([
    ['EnrollmentEnrolled', Topics.enrollments, event('EnrollmentEnrolled', 'enrollment', { enrollmentId: 'e-1', programId: 'prog-1', fiscalYear: 'FY27', status: 'ENROLLED', revision: 3 })],
    ['TaxProfileExpiring', Topics.payoutProfiles, event('TaxProfileExpiring', 'payout-profiles', { profileId: 'tax-1', expiresAt: '2027-01-01T00:00:00Z', daysLeft: 30 })],
    ['ProfileActionRequired', Topics.payoutProfiles, bankActionRequired(['L-1'])],
    ['AdminAssignmentRequested (its company admins)', Topics.invitations, adminNeeded([named(admin)])],
  ])('marks a plan whose recipients come from the view by role (%s): it is planned again once the view caught up', async (_, topic, envelope) => {
    const plan = await planner(view).plan(topic, envelope);
    expect(plan?.recipients.length).toBeGreaterThan(0);
    expect(plan?.fromView).toBe(true);
  });

  it('does not mark an invitation, whose recipients the event names (trusted as named)', async () => {
    const issued = event('InvitationIssued', 'invitations', { ...invitation, channels: ['EMAIL'], getStartedUrl: 'https://portal.test/go', requiresEligibility: true });
    const plan = await planner(view).plan(Topics.invitations, issued);
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['admin-l1']);
    expect(plan?.fromView).toBeUndefined();
  });
});

// An invitation asks to enroll for its fiscal year, an admin-needed message to name an admin for it: Enroll refuses a
// year that is over, so either read after its year (a consumer behind across June 30) tells nobody, and one planned
// before is sent only until then (sendBefore: the delivery cancels one still waiting).
describe('MessagePlanner, an invitation of a fiscal year', () => {
  const admin = user('admin-l1', 'INCENTIVES_ADMIN', true, ['L-1']);
  const company = user('global', 'GLOBAL_ADMIN');
  const issued = (fiscalYear: string) =>
    createEnvelope({
      type: 'InvitationIssued',
      source: 'invitations',
      partnerId: PARTNER,
      locationId: 'L-1',
      data: { invitationId: 'inv-1', programId: 'prog-1', partnerId: PARTNER, locationId: 'L-1', fiscalYear, recipients: [named(admin)], channels: ['EMAIL', 'NOTICE'], getStartedUrl: 'https://portal.test/go', requiresEligibility: true },
    });
  const needed = (fiscalYear: string) => {
    const envelope = adminNeeded([named(company)]);
    return { ...envelope, data: { ...envelope.data, fiscalYear } };
  };
  const PAST_FY = fiscalYearOf(new Date(Date.now() - 400 * 86_400_000));

  it('is planned to be sent before its year ends', async () => {
    const end = fiscalYearRange(CURRENT_FY).end;
    expect(await planner([admin]).plan(Topics.invitations, issued(CURRENT_FY))).toMatchObject({ template: 'invitation', sendBefore: end });
    expect(await planner([company]).plan(Topics.invitations, needed(CURRENT_FY))).toMatchObject({ template: 'admin-assignment-requested', sendBefore: end });
  });

  it('tells nobody once its year is over', async () => {
    expect(await planner([admin]).plan(Topics.invitations, issued(PAST_FY))).toBeNull();
    expect(await planner([company]).plan(Topics.invitations, needed(PAST_FY))).toBeNull();
  });
});

describe('MessagePlanner, an enrollment needing action', () => {
  const admin = user('admin-1', 'INCENTIVES_ADMIN');
  const event = (type: string, extra: Record<string, unknown>) =>
    createEnvelope({
      type,
      source: 'enrollment',
      partnerId: PARTNER,
      locationId: 'L-1',
      data: { enrollmentId: 'e-1', programId: 'prog-1', partnerId: PARTNER, locationId: 'L-1', fiscalYear: 'FY27', status: 'ACTION_REQUIRED', reasons: [], missing: [], revision: 3, ...extra },
    });

  it("lists the rollover's expired tax profile once, as a missing item with its date (its dated reason, old wording or new, not repeated)", async () => {
    for (const [reason, date] of [
      ['The tax profile expires on or before July 1, 2027, the first day of FY28.', 'the tax profile expires on or before July 1, 2027, the first day of FY28.'],
      ['The tax profile is expired on 2027-07-01, the first day of FY28.', 'the tax profile is expired on 2027-07-01, the first day of FY28.'],
    ]) {
      const plan = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { reasons: [reason, 'Bank name differs'], missing: ['TAX_PROFILE_EXPIRED'] }));
      expect(plan?.context).toMatchObject({ reasons: ['Bank name differs'], missing: [`A tax profile whose tax forms have not expired: ${date}`] });
    }
    // Not dated (expired while the year runs): the item alone.
    const undated = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { reasons: ['The tax profile has expired.'], missing: ['TAX_PROFILE_EXPIRED'] }));
    expect(undated?.context).toMatchObject({ reasons: [], missing: ['A tax profile whose tax forms have not expired'] });
  });

  it("marks a status email with its enrollment's revision, and a renewal reminder as a reminder (withdrawn by a later change's email, withdrawing none)", async () => {
    // One that leaves it to complete (a rejection, Continue) says so: it does not withdraw a reminder that it is not completed.
    const action = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { status: 'ACTION_REQUIRED', missing: ['BANK_PROFILE_MISSING'] }));
    expect(action?.enrollmentStatus).toEqual({ enrollmentId: 'e-1', revision: 3, stillToComplete: true });
    const validating = await planner([admin]).plan(Topics.enrollments, event('EnrollmentValidating', { status: 'VALIDATING', previousStatus: 'INVITED' }));
    expect(validating?.enrollmentStatus).toEqual({ enrollmentId: 'e-1', revision: 3 });
    const atRisk = await planner([admin]).plan(
      Topics.enrollments,
      event('EnrollmentRenewalAtRisk', { status: 'ACTION_REQUIRED', fiscalYearEndsAt: fiscalYearRange(CURRENT_FY).end.toISOString(), kind: 'NOT_COMPLETED', missing: ['TAX_PROFILE_MISSING'] }),
    );
    expect(atRisk).toMatchObject({ template: 'enrollment-renewal-at-risk', enrollmentStatus: { enrollmentId: 'e-1', revision: 3, reminder: true } });
    // Not completed is answered by the admin's next change; one that will not continue (the agreement inactive) by none:
    // not withdrawn.
    const willNotContinue = await planner([admin]).plan(
      Topics.enrollments,
      event('EnrollmentRenewalAtRisk', { status: 'ENROLLED', fiscalYearEndsAt: fiscalYearRange(CURRENT_FY).end.toISOString(), kind: 'WILL_NOT_CONTINUE', outcome: 'EXPIRED', reasons: ['The partner agreement is not active.'] }),
    );
    expect(willNotContinue?.template).toBe('enrollment-renewal-at-risk');
    expect(willNotContinue?.enrollmentStatus).toBeUndefined();
    // Still about its enrollment, which its outcome events name.
    expect(willNotContinue?.enrollmentId).toBe('e-1');
  });

  it('tells a submitted one it follows its profiles, and one sent back to its proposal to Continue', async () => {
    const submitted = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { previousStatus: 'ENROLLED', submitted: true }));
    expect(submitted?.context).toMatchObject({ followsProfiles: true });
    const withdrawn = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { previousStatus: 'ENROLLED', submitted: false }));
    expect(withdrawn?.context).toMatchObject({ followsProfiles: false });
    // An older producer's event, without `submitted`: out of validation or ENROLLED counts as submitted.
    const older = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { previousStatus: 'VALIDATING' }));
    expect(older?.context).toMatchObject({ followsProfiles: true, wasSubmitted: true });
    // Its bank choice withdrawn out of validation: back to its proposal, to be submitted again (not "its validation goes on").
    const withdrawnInValidation = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { previousStatus: 'VALIDATING', submitted: false }));
    expect(withdrawnInValidation?.context).toMatchObject({ followsProfiles: false, wasSubmitted: false });
    // Its bank profile's currency no longer allowed: another bank profile is named (a default's currency cannot change).
    const currency = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { previousStatus: 'ENROLLED', submitted: true, missing: ['CURRENCY_NOT_ALLOWED'] }));
    expect(currency?.context).toMatchObject({ followsProfiles: true, anotherBankProfile: true, currencyNotAllowed: true });
    const method = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { previousStatus: 'ENROLLED', submitted: true, missing: ['PAYMENT_METHOD_NOT_ALLOWED'] }));
    expect(method?.context).toMatchObject({ anotherBankProfile: true, currencyNotAllowed: false });
    const tax = await planner([admin]).plan(Topics.enrollments, event('EnrollmentActionRequired', { previousStatus: 'ENROLLED', submitted: true, missing: ['TAX_PROFILE_EXPIRED'] }));
    expect(tax?.context).toMatchObject({ followsProfiles: true, anotherBankProfile: false });
  });
});

describe('MessagePlanner, an enrollment its program discontinued', () => {
  const discontinued = (previousStatus: string, extra: Record<string, unknown> = {}) =>
    createEnvelope({
      type: 'EnrollmentDiscontinued',
      source: 'enrollment',
      partnerId: PARTNER,
      locationId: 'L-1',
      data: { enrollmentId: 'e-1', programId: 'prog-1', partnerId: PARTNER, locationId: 'L-1', fiscalYear: CURRENT_FY, status: 'DISCONTINUED', previousStatus, reasons: ['The program Azure Growth was discontinued.'], missing: [], revision: 4, ...extra },
    });
  const admin = user('admin-1', 'INCENTIVES_ADMIN');

  it.each(['ENROLLED', 'VALIDATING', 'ACTION_REQUIRED'])('tells the location admins of one out of %s, with why', async (before) => {
    const plan = await planner([admin]).plan(Topics.enrollments, discontinued(before));
    expect(plan).toMatchObject({
      template: 'enrollment-discontinued',
      recipients: [expect.objectContaining({ userId: 'admin-1' })],
      context: expect.objectContaining({ reasons: ['The program Azure Growth was discontinued.'] }),
      enrollmentStatus: { enrollmentId: 'e-1', revision: 4 },
    });
  });

  it('tells nobody of one only invited, nor the company admins (it asks for nothing)', async () => {
    expect(await planner([admin]).plan(Topics.enrollments, discontinued('INVITED'))).toBeNull();
    expect((await planner([user('global', 'GLOBAL_ADMIN')]).plan(Topics.enrollments, discontinued('ENROLLED')))?.recipients).toEqual([]);
  });

  it('tells nothing of a year over when it was discontinued (its enrollment continued into the next, whose own end tells), but of one discontinued within its year, read after', async () => {
    const past = fiscalYearOf(new Date(Date.now() - 400 * 86_400_000));
    expect(await planner([admin]).plan(Topics.enrollments, discontinued('ENROLLED', { fiscalYear: past }))).toBeNull();
    const withinIt = { ...discontinued('ENROLLED', { fiscalYear: past }), occurredAt: new Date(+fiscalYearRange(past).end - 3_600_000).toISOString() };
    expect((await planner([admin]).plan(Topics.enrollments, withinIt))?.template).toBe('enrollment-discontinued');
    // Written after the year's end (the enrollment service's sweep behind), of a program discontinued within it: told.
    const sweptLate = discontinued('ENROLLED', { fiscalYear: past, discontinuedAt: new Date(+fiscalYearRange(past).end - 60_000).toISOString() });
    expect((await planner([admin]).plan(Topics.enrollments, sweptLate))?.template).toBe('enrollment-discontinued');
  });
});

describe('MessagePlanner, an enrollment ending INELIGIBLE', () => {
  const ineligible = (previousStatus: string, extra: Record<string, unknown> = {}) =>
    createEnvelope({
      type: 'EnrollmentIneligible',
      source: 'enrollment',
      partnerId: PARTNER,
      locationId: 'L-1',
      data: { enrollmentId: 'e-1', programId: 'prog-1', partnerId: PARTNER, locationId: 'L-1', fiscalYear: 'FY28', status: 'INELIGIBLE', previousStatus, reasons: ['Not eligible in FY28'], missing: [], revision: 3, completed: false, ...extra },
    });
  const admin = user('admin-1', 'INCENTIVES_ADMIN');

  // Its admins were told it continues (EnrollmentRenewed, or Validating / Action required from the rollover), or were
  // enrolling it: an enrollment they acted on that ends is told, with why.
  it.each(['ENROLLED', 'VALIDATING', 'ACTION_REQUIRED'])('tells the location admins of one out of %s, with why', async (before) => {
    const plan = await planner([admin]).plan(Topics.enrollments, ineligible(before));
    expect(plan).toMatchObject({ template: 'enrollment-ineligible', recipients: [expect.objectContaining({ userId: 'admin-1' })], context: expect.objectContaining({ reasons: ['Not eligible in FY28'] }) });
  });

  it('tells nobody of one only invited (its invitation is withdrawn; nothing was started)', async () => {
    expect(await planner([admin]).plan(Topics.enrollments, ineligible('INVITED'))).toBeNull();
    expect(await planner([admin]).plan(Topics.enrollments, ineligible('INVITED', { started: false }))).toBeNull();
  });

  it('tells the location admins of one Enroll started (INVITED, Submit next) that ends', async () => {
    const plan = await planner([admin]).plan(Topics.enrollments, ineligible('INVITED', { started: true }));
    expect(plan).toMatchObject({ template: 'enrollment-ineligible', recipients: [expect.objectContaining({ userId: 'admin-1' })] });
  });

  it("names the location by its legal name when the view knows it as the partner's, and by its id alone when it is another partner's", async () => {
    expect((await planner([admin]).plan(Topics.enrollments, ineligible('ENROLLED')))?.context.locationLabel).toBe('Northwind Traders (L-1)');
    // A producer's mistake: another partner's location named as this partner's. Its legal name stays that partner's.
    const foreign = createEnvelope({
      type: 'EnrollmentIneligible',
      source: 'enrollment',
      partnerId: PARTNER,
      locationId: 'L-9',
      data: { enrollmentId: 'e-9', programId: 'prog-1', partnerId: PARTNER, locationId: 'L-9', fiscalYear: 'FY28', status: 'INELIGIBLE', previousStatus: 'ENROLLED', reasons: [], missing: [], revision: 3, completed: false },
    });
    expect((await planner([admin]).plan(Topics.enrollments, foreign))?.context.locationLabel).toBe('L-9');
  });
});

describe('MessagePlanner, an enrollment expiring with its year', () => {
  const expired = (data: Record<string, unknown>) =>
    createEnvelope({
      type: 'EnrollmentExpired',
      source: 'enrollment',
      partnerId: PARTNER,
      locationId: 'L-1',
      data: { enrollmentId: 'e-1', programId: 'prog-1', partnerId: PARTNER, locationId: 'L-1', fiscalYear: 'FY27', status: 'EXPIRED', reasons: ['The fiscal year FY27 ended before the enrollment was completed.'], missing: [], revision: 2, ...data },
    });
  const admin = user('admin-1', 'INCENTIVES_ADMIN');

  it('tells nobody of one only invited: nothing was enrolled or continued (the new year invites again)', async () => {
    expect(await planner([admin]).plan(Topics.enrollments, expired({ previousStatus: 'INVITED', completed: false, started: false }))).toBeNull();
  });

  it.each([
    ['started, Submit next', { previousStatus: 'INVITED', completed: false, started: true }],
    ['waiting for payout information', { previousStatus: 'ACTION_REQUIRED', completed: false }],
    ['completed, not continued', { previousStatus: 'ENROLLED', completed: true, started: true }],
  ])('tells the location admins of one %s', async (_, data) => {
    const plan = await planner([admin]).plan(Topics.enrollments, expired(data));
    expect(plan).toMatchObject({ template: 'enrollment-expired', recipients: [expect.objectContaining({ userId: 'admin-1' })] });
  });
});

describe('MessagePlanner, a tax profile expiring', () => {
  const admin = user('admin-1', 'INCENTIVES_ADMIN');
  const expiring = (expiresAt: Date, daysLeft: number) =>
    createEnvelope({
      type: 'TaxProfileExpiring',
      source: 'payout-profiles',
      partnerId: PARTNER,
      locationId: 'L-1',
      data: { profileId: 'tax-1', partnerId: PARTNER, locationId: 'L-1', expiresAt: expiresAt.toISOString(), daysLeft },
    });
  // Today as each test runs (not as the file loaded: a run across midnight would count from yesterday).
  const startOfToday = () => Date.now() - (Date.now() % 86_400_000);
  /** That many dates after today's (UTC), at `hour`. */
  const onDate = (days: number, hour = 12) => new Date(startOfToday() + days * 86_400_000 + hour * 3_600_000);
  const inDays = (days: number) => new Date(Date.now() + days * 86_400_000 - 60_000);

  it('tells the days left by date, as the email shows it (not by hours)', async () => {
    for (const hour of [0, 23]) {
      const plan = await planner([admin]).plan(Topics.payoutProfiles, expiring(onDate(30, hour), 30));
      expect(plan?.context).toMatchObject({ expired: false, daysLeftLabel: 'in 30 days' });
    }
  });

  it('tells fewer, as counted now, when the event is handled days after the scan', async () => {
    const plan = await planner([admin]).plan(Topics.payoutProfiles, expiring(onDate(27), 30));
    expect(plan?.context).toMatchObject({ expired: false, daysLeftLabel: 'in 27 days' });
  });

  it('tells one expiring later today as today, and one expiring on the next date as tomorrow, whatever the hours left', async () => {
    // Dates as the email shows them (UTC): the end of today, and tomorrow evening (more than a day away, counted up: 2).
    const endOfToday = new Date(startOfToday() + 86_400_000 - 1);
    const tomorrowEvening = new Date(startOfToday() + 2 * 86_400_000 - 60_000);
    expect((await planner([admin]).plan(Topics.payoutProfiles, expiring(endOfToday, 1)))?.context).toMatchObject({ daysLeftLabel: 'today' });
    expect((await planner([admin]).plan(Topics.payoutProfiles, expiring(tomorrowEvening, 2)))?.context).toMatchObject({ daysLeftLabel: 'tomorrow' });
  });

  it('tells it expired once its date has passed', async () => {
    const plan = await planner([admin]).plan(Topics.payoutProfiles, expiring(inDays(-1), 30));
    expect(plan?.context).toMatchObject({ expired: true });
    expect(plan?.context).not.toHaveProperty('daysLeftLabel');
    // Whenever it goes out, it is true.
    expect(plan).not.toHaveProperty('sendBefore');
  });

  it('sends "it expires on" only before it has (an email held up past the expiry is withdrawn; the inbox keeps it)', async () => {
    const expiresAt = onDate(10);
    const plan = await planner([admin]).plan(Topics.payoutProfiles, expiring(expiresAt, 10));
    expect(plan?.sendBefore).toEqual(expiresAt);
  });
});
