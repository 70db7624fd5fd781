import { uniqueName } from '@lib/testing';
import mongoose, { Connection, Model } from 'mongoose';
import { InvitationRepository } from '../src/invitations/invitation.repository';
import { Invitation, InvitationSchema, InvitationState } from '../src/invitations/invitation.schema';

// Against the test database server (real connections): which invitations a user who became an Incentives admin may
// be delivered (DeliverToLateAdmins reconciles those, not every invitation of the partner).
let connection: Connection;
let model: Model<Invitation>;
let repository: InvitationRepository;

beforeAll(async () => {
  connection = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName('deliverable'), directConnection: true }).asPromise();
  model = connection.model(Invitation.name, InvitationSchema);
  await model.init();
  repository = new InvitationRepository(model as never);
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

const recipient = (userId: string) => ({ userId, email: `${userId}@contoso.test`, displayName: userId, deliveredAt: new Date() });

function invitation(id: string, state: InvitationState, recipients: string[], { partnerId = 'p1', locationId = 'L1', fiscalYear = 'FY27' } = {}) {
  return {
    _id: id,
    programId: 'prog-1',
    partnerId,
    locationId,
    fiscalYear,
    state,
    cycle: 1,
    recipients: recipients.map(recipient),
    getStartedUrl: `https://portal.test/${id}`,
    version: 1,
  };
}

it('finds the waiting invitations and the issued ones the user did not get, of their locations and partner only', async () => {
  await model.insertMany([
    invitation('waiting', 'AWAITING_ADMIN', []),
    invitation('waiting-again', 'AWAITING_ADMIN', ['u1']), // the user had it before leaving: delivered again
    invitation('issued-to-others', 'ISSUED', ['u2']),
    invitation('issued-to-user', 'ISSUED', ['u2', 'u1']),
    invitation('revoked', 'REVOKED', ['u2']),
    invitation('enrolled', 'ENROLLED', ['u2']),
    invitation('other-location', 'ISSUED', ['u2'], { locationId: 'L2' }),
    invitation('other-partner', 'AWAITING_ADMIN', [], { partnerId: 'p2' }),
    // A past year's, left ISSUED or waiting for good: not read.
    invitation('past-issued', 'ISSUED', ['u2'], { fiscalYear: 'FY26' }),
    invitation('past-waiting', 'AWAITING_ADMIN', [], { fiscalYear: 'FY26' }),
  ]);
  const ids = async (locations: string[] | null, years = ['FY27']) => (await repository.deliverableTo('u1', 'p1', locations, years)).map((row) => row._id);

  expect(await ids(['L1'])).toEqual(['issued-to-others', 'waiting', 'waiting-again']);
  expect(await ids(null)).toEqual(['issued-to-others', 'other-location', 'waiting', 'waiting-again']);
  expect(await ids(null, ['FY26', 'FY27'])).toEqual(['issued-to-others', 'other-location', 'past-issued', 'past-waiting', 'waiting', 'waiting-again']);
  expect(await ids(null, [])).toEqual([]);
  expect(await repository.deliverableTo('u1', 'p1', ['L1'], ['FY27'])).toContainEqual({ _id: 'waiting', programId: 'prog-1', fiscalYear: 'FY27' });
  // The issued ones (their admins may all have left), of the years asked for.
  const issued = async (locations: string[] | null, years: string[]) => (await repository.issuedIn('p1', locations, years)).map((row) => row._id).sort();
  expect(await issued(null, ['FY27'])).toEqual(['issued-to-others', 'issued-to-user', 'other-location']);
  expect(await issued(['L1'], ['FY26'])).toEqual(['past-issued']);
});

it('finds the waiting invitations that did not ask a company admin, of the years asked for', async () => {
  await model.insertMany([
    { ...invitation('pending', 'AWAITING_ADMIN', [], { partnerId: 'p3' }), adminRequestPending: true },
    { ...invitation('asked-others', 'AWAITING_ADMIN', [], { partnerId: 'p3' }), askedAdmins: ['g2'] },
    { ...invitation('asked-them', 'AWAITING_ADMIN', [], { partnerId: 'p3' }), askedAdmins: ['g1'] },
    { ...invitation('past-pending', 'AWAITING_ADMIN', [], { partnerId: 'p3', fiscalYear: 'FY26' }), adminRequestPending: true },
    { ...invitation('past-asked-others', 'AWAITING_ADMIN', [], { partnerId: 'p3', fiscalYear: 'FY26' }), askedAdmins: ['g2'] },
  ]);
  const ids = async (years: string[]) => (await repository.notAsking('p3', 'g1', years)).map((row) => row._id);
  expect(await ids(['FY27'])).toEqual(['asked-others', 'pending']);
  expect(await ids(['FY26', 'FY27'])).toEqual(['asked-others', 'past-asked-others', 'past-pending', 'pending']);
  expect(await ids([])).toEqual([]);
});
