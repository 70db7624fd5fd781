import { AccessPolicy, AccessUser } from '@lib/access';
import { createEnvelope, Recipient, Topics } from '@lib/contracts';
import type { Model } from 'mongoose';
import { RecipientDirectory } from '../recipients/recipient-directory';
import { MessagePlanner } from './message-planner';

const PARTNER = 'P-1';

function user(id: string, role: 'GLOBAL_ADMIN' | 'ACCOUNT_ADMIN', active = true): AccessUser {
  return {
    _id: id,
    partnerId: PARTNER,
    email: `${id}@contoso.example.com`,
    displayName: id,
    active,
    roles: [{ role, locationIds: ['*'] }],
    grants: [`${role}:*`],
    revision: 1,
  } as AccessUser;
}

/** The recipient view as the directory reads it through AccessPolicy: these users, nothing else. */
function planner(users: AccessUser[]): MessagePlanner {
  const policy = {
    userById: async (id: string) => users.find((u) => u._id === id),
    companyAdmins: async (partnerId: string) => users.filter((u) => u.partnerId === partnerId && u.active),
    locationById: async () => ({ _id: 'L-1', legalName: 'Northwind Traders' }),
  } as unknown as AccessPolicy;
  const directory = new RecipientDirectory(policy, {} as Model<AccessUser>);
  return new MessagePlanner(directory, { PORTAL_BASE_URL: 'https://portal.test' });
}

const named = (u: AccessUser): Recipient => ({ userId: u._id, email: u.email, displayName: u.displayName });

function adminNeeded(recipients: Recipient[]) {
  return createEnvelope({
    type: 'AdminAssignmentRequested',
    source: 'invitations',
    partnerId: PARTNER,
    locationId: 'L-1',
    data: { invitationId: 'inv-1', programId: 'prog-1', partnerId: PARTNER, locationId: 'L-1', fiscalYear: 'FY27', recipients },
  });
}

describe('MessagePlanner, admin needed', () => {
  it('still tells the current company admins when every admin the event names was deactivated since', async () => {
    const gone = user('gone', 'GLOBAL_ADMIN', false);
    const account = user('account', 'ACCOUNT_ADMIN');
    const plan = await planner([gone, account]).plan(Topics.invitations, adminNeeded([named(gone)]));
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['account']);
  });

  it('tells the named admins still active and the current ones, each once', async () => {
    const global = user('global', 'GLOBAL_ADMIN');
    const account = user('account', 'ACCOUNT_ADMIN');
    const gone = user('gone', 'ACCOUNT_ADMIN', false);
    const unknown: Recipient = { userId: 'not-in-view-yet', email: 'new@contoso.example.com', displayName: 'New' };
    const plan = await planner([global, account, gone]).plan(Topics.invitations, adminNeeded([named(global), named(gone), unknown]));
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['global', 'not-in-view-yet', 'account']);
    expect(plan?.recipients[0]).toEqual({ userId: 'global', partnerId: PARTNER, email: global.email, displayName: 'global' });
  });

  it('tells the current company admins when the event names nobody', async () => {
    const plan = await planner([user('global', 'GLOBAL_ADMIN'), user('account', 'ACCOUNT_ADMIN')]).plan(
      Topics.invitations,
      adminNeeded([]),
    );
    expect(plan?.recipients.map((r) => r.userId)).toEqual(['global', 'account']);
  });
});
