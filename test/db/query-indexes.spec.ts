/**
 * The queries that read many documents, or run on a schedule over a whole collection, each have an index that
 * serves them on MongoDB: its leading keys are the query's equality fields (in any order), then the fields it
 * sorts by, in order and direction (or all reversed). Without one MongoDB reads more than it returns, or sorts in
 * memory (a blocking sort, refused past 100 MB). The local servers cannot show this: mongo-java-server ignores
 * non-unique indexes, and FerretDB on SQLite plans its own way, so the check is on the schemas' declared indexes
 * (what mongoose creates at start), against each query's shape as the code writes it.
 *
 * A pure unit spec: no server. `_id` has its index on every collection.
 */
import type { Schema } from 'mongoose';
import { AccessLocationSchema, AccessUserSchema } from '../../libs/access/src/access.schemas';
import { PENDING_OUTBOX } from '../../libs/messaging/src/outbox';
import { EnrollmentSchema, PENDING_SCAN, YEAR_SCAN } from '../../services/enrollment/src/enrollments/enrollment.schema';
import { LIST_ORDER as ENROLLMENT_ORDER } from '../../services/enrollment/src/enrollments/enrollments.repository';
import { ProgramSchema } from '../../services/enrollment/src/programs/program.schema';
import { CATALOG_ORDER } from '../../services/enrollment/src/programs/usecases/read-programs.use-case';
import { LocationClaimSchema, PartnerSchema, PENDING_ADMIN } from '../../services/identity/src/partners/partner.schema';
import { UserSchema } from '../../services/identity/src/users/user.schema';
import { HOLDER_ORDER, USER_ORDER } from '../../services/identity/src/users/users.repository';
import { LIST_ORDER as INVITATION_ORDER, NOTICE_ORDER } from '../../services/invitations/src/invitations/invitation.repository';
import { InvitationSchema } from '../../services/invitations/src/invitations/invitation.schema';
import { EligibilityDecisionViewSchema } from '../../services/invitations/src/invitations/views/eligibility-decision.schema';
import { OPEN_PROGRAMS_ORDER, ProgramViewSchema } from '../../services/invitations/src/invitations/views/program-view.schema';
import { INBOX_ORDER } from '../../services/notification/src/inbox/inbox.repository';
import { MessageSchema } from '../../services/notification/src/messages/message.schema';
import { TAX_PROFILE_ORDER } from '../../services/payout-profiles/src/tax-profiles/tax-profiles.repository';
import { TaxProfileSchema } from '../../services/payout-profiles/src/tax-profiles/tax-profile.schema';

type Direction = 1 | -1;

/** A query's shape: the fields it matches on one value (or a few, `$in`; or one range), and its sort. */
interface QueryShape {
  equal: string[];
  sort?: Record<string, Direction>;
}

/** The first declared index (as its keys) whose leading keys serve the query, or undefined. */
function indexServing(schema: Schema, shape: QueryShape): Record<string, unknown> | undefined {
  const indexes = [{ _id: 1 }, ...schema.indexes().map(([keys]) => keys as Record<string, unknown>)];
  const sort = Object.entries(shape.sort ?? {});
  // A sort field the query also matches on ($in, as the lists' locationId) is placed by the sort, not the equality.
  const equalOnly = shape.equal.filter((field) => !sort.some(([name]) => name === field));
  return indexes.find((keys) => {
    const entries = Object.entries(keys);
    if (entries.length < equalOnly.length + sort.length) return false;
    const leading = entries.slice(0, equalOnly.length).map(([name]) => name);
    if (!equalOnly.every((field) => leading.includes(field))) return false;
    const sorted = entries.slice(equalOnly.length, equalOnly.length + sort.length);
    const same = sorted.every(([name, dir], i) => name === sort[i][0] && dir === sort[i][1]);
    const reversed = sorted.every(([name, dir], i) => name === sort[i][0] && dir === -sort[i][1]);
    return same || reversed;
  });
}

const queries: Array<[string, Schema, QueryShape]> = [
  // enrollment
  ['GET /v1/enrollments: a partner\'s locations ($in) in LIST_ORDER', EnrollmentSchema, { equal: ['partnerId', 'locationId'], sort: ENROLLMENT_ORDER.sort }],
  ['GET /v1/enrollments?status=: a partner\'s enrollments of one status (every location, or some: $in) in LIST_ORDER', EnrollmentSchema, { equal: ['partnerId', 'status'], sort: ENROLLMENT_ORDER.sort }],
  ['a program\'s sweeps (ofProgramIn): its enrollments of some statuses in _id order', EnrollmentSchema, { equal: ['programId', 'status'], sort: { _id: 1 } }],
  ['the rollover\'s and the renewal reminders\' scan of a year (hint)', EnrollmentSchema, { equal: ['fiscalYear'], sort: { _id: 1 } }],
  ['a profile\'s event: the enrollments naming a bank profile', EnrollmentSchema, { equal: ['bankProfileId'] }],
  ['a profile\'s event: the enrollments naming a tax profile', EnrollmentSchema, { equal: ['taxProfileId'] }],
  // A catalog is small, but a page of it is still read from an index in its order (page.ts), not sorted in memory;
  // `fiscalYear`, a rarer filter, is matched along the name order.
  ['GET /v1/programs: the catalog in CATALOG_ORDER', ProgramSchema, { equal: [], sort: CATALOG_ORDER.sort }],
  ['GET /v1/programs?state=: one state in CATALOG_ORDER', ProgramSchema, { equal: ['state'], sort: CATALOG_ORDER.sort }],
  // every outbox collection
  ['the outbox relay\'s scan for pending entries (PENDING_OUTBOX)', EnrollmentSchema, { equal: Object.keys(PENDING_OUTBOX) }],
  // access views (every service)
  ['a partner\'s locations in _id order (access lists)', AccessLocationSchema, { equal: ['partnerId'], sort: { _id: 1 } }],
  // notification
  ['the inbox page: one user\'s entries in a partner, newest first, ties by id', MessageSchema, { equal: ['userId', 'partnerId', 'channel'], sort: INBOX_ORDER.sort }],
  ['the inbox\'s unread count', MessageSchema, { equal: ['userId', 'partnerId', 'channel', 'read'] }],
  ['the inbox\'s bank-profile actions to check against their email\'s audience', MessageSchema, { equal: ['userId', 'partnerId', 'channel', 'template'] }],
  ['the email worker\'s claim: due emails first', MessageSchema, { equal: ['channel', 'status'], sort: { nextAttemptAt: 1 } }],
  // (sorted by creation in memory: one recipient's invitations of one window)
  ['a digest email sent: the invitation emails it gathered (a handful: their status checked on the documents)', MessageSchema, { equal: ['digest.id'] }],
  // payout-profiles
  ['the hourly tax-expiry scan: profiles not reported yet, by expiresAt', TaxProfileSchema, { equal: ['expiryReportedFor'], sort: { expiresAt: 1 } }],
  ['GET /v1/tax-profiles: a partner\'s locations in TAX_PROFILE_ORDER', TaxProfileSchema, { equal: ['partnerId', 'locationId'], sort: TAX_PROFILE_ORDER.sort }],
  // identity
  ['the claim sweep: claims not marked listed', LocationClaimSchema, { equal: ['listed'] }],
  ['the claim sweep: which partner lists a location', PartnerSchema, { equal: ['locations.locationId'] }],
  ['the registration sweep: partners whose first Global admin is pending (PENDING_ADMIN)', PartnerSchema, { equal: Object.keys(PENDING_ADMIN) }],
  ['GET /v1/users: a partner\'s users in USER_ORDER (`active`, a filter along the order)', UserSchema, { equal: ['partnerId'], sort: USER_ORDER.sort }],
  ['GET /v1/locations/:id/incentives-admins: the partner\'s holders of the role on the location or `*` ($in) in HOLDER_ORDER', UserSchema, { equal: ['partnerId', 'grants'], sort: HOLDER_ORDER.sort }],
  // invitations
  ['GET /v1/invitations and the overview: a partner\'s locations in LIST_ORDER', InvitationSchema, { equal: ['partnerId', 'locationId'], sort: INVITATION_ORDER.sort }],
  ['GET /v1/invitations?state=: a partner\'s invitations of some states ($in), of every location or some, in LIST_ORDER', InvitationSchema, { equal: ['partnerId', 'state', 'locationId'], sort: INVITATION_ORDER.sort }],
  ['GET /v1/notices: a user\'s pending notices (their user id is theirs alone) of a program in its current year (one $or branch each), in NOTICE_ORDER, newest first', InvitationSchema, { equal: ['pendingNotices', 'programId', 'fiscalYear'], sort: NOTICE_ORDER.sort }],
  ['GET /v1/notices: the programs taking enrollments (OPEN)', ProgramViewSchema, { equal: ['state'] }],
  ['the overview: open programs taking enrollments, by name', ProgramViewSchema, { equal: ['requiresEligibility', 'state'], sort: OPEN_PROGRAMS_ORDER }],
  ['a program change: its decisions of one fiscal year in _id order', EligibilityDecisionViewSchema, { equal: ['programId', 'fiscalYear'], sort: { _id: 1 } }],
  ['a `*` admin gone: the partner\'s ISSUED invitations of the current fiscal years in _id order', InvitationSchema, { equal: ['partnerId', 'state', 'fiscalYear'], sort: { _id: 1 } }],
  ['a `*` Incentives admin\'s event: the partner\'s waiting, or issued, invitations of the current fiscal years in _id order (one $or branch each)', InvitationSchema, { equal: ['partnerId', 'state', 'fiscalYear'], sort: { _id: 1 } }],
  ['a company admin\'s event: the partner\'s invitations of the current fiscal years whose request is pending (a $or branch; the other, AWAITING_ADMIN, as above)', InvitationSchema, { equal: ['partnerId', 'adminRequestPending'] }],
  // notification
  ['a bank profile serving every location: the partner\'s active Incentives admins in _id order', AccessUserSchema, { equal: ['partnerId', 'active', 'roles.role'], sort: { _id: 1 } }],
];

describe('indexes of the queries that read many documents', () => {
  it.each(queries)('%s', (_query, schema, shape) => {
    expect(indexServing(schema, shape)).toBeDefined();
  });

  it('the rollover\'s scan reads the index it is pinned to', () => {
    expect(indexServing(EnrollmentSchema, { equal: ['fiscalYear', 'rollover.outcome'], sort: { _id: 1 } })).toEqual(PENDING_SCAN);
    // The renewal reminders' scan of a year.
    expect(indexServing(EnrollmentSchema, { equal: ['fiscalYear'], sort: { _id: 1 } })).toEqual(YEAR_SCAN);
  });
});

describe('indexServing', () => {
  const schema = { indexes: () => [[{ a: 1, b: 1, c: -1 }, {}]] } as unknown as Schema;

  it('takes equality fields in any order, then the sort in order, or all reversed', () => {
    expect(indexServing(schema, { equal: ['b', 'a'] })).toEqual({ a: 1, b: 1, c: -1 });
    expect(indexServing(schema, { equal: ['a', 'b'], sort: { c: -1 } })).toBeDefined();
    expect(indexServing(schema, { equal: ['a', 'b'], sort: { c: 1 } })).toBeDefined(); // the index read backwards
    expect(indexServing(schema, { equal: ['a'], sort: { b: -1, c: 1 } })).toBeDefined();
    expect(indexServing(schema, { equal: ['a'], sort: { b: 1, c: 1 } })).toBeUndefined();
  });

  it('refuses an index whose leading keys are not the query\'s, or a sort it does not give', () => {
    expect(indexServing(schema, { equal: ['b'] })).toBeUndefined();
    expect(indexServing(schema, { equal: ['a'], sort: { c: -1 } })).toBeUndefined();
    expect(indexServing(schema, { equal: ['a', 'b', 'c', 'd'] })).toBeUndefined();
    // _id is always indexed
    expect(indexServing(schema, { equal: [], sort: { _id: -1 } })).toEqual({ _id: 1 });
  });

  it('lets a sort field also be matched ($in), placed by the sort', () => {
    expect(indexServing(schema, { equal: ['a', 'b'], sort: { b: 1, c: -1 } })).toBeDefined();
  });
});
