import { buildEvent, Topics } from '@lib/contracts';
import { baseConfigSpec, loadConfig } from '@lib/platform';
import { configRefusal, PLATFORM_REQUIRED_ENV } from '@lib/testing';
import { invitationsConfigSpec } from './config';
import { getStartedUrl } from './invitations/invitation-ids';

const load = (env: Record<string, string>) => loadConfig({ ...baseConfigSpec('invitations'), ...invitationsConfigSpec }, { ...PLATFORM_REQUIRED_ENV, ...env });
const refusal = (env: Record<string, string>) => configRefusal(load, env);
const key = { programId: 'azure-growth', locationId: 'L1', fiscalYear: 'FY27' };

/** An invitation event built with the Get Started link of this portal, as IssueInvitation builds it. */
const issued = (portal: string) =>
  buildEvent(Topics.invitations, {
    type: 'InvitationIssued',
    source: 'invitations',
    partnerId: 'P1',
    locationId: 'L1',
    data: {
      invitationId: 'I1',
      ...key,
      partnerId: 'P1',
      programName: 'Azure Growth',
      recipients: [{ userId: 'U1', email: 'a@example.com' }],
      channels: ['EMAIL'],
      getStartedUrl: getStartedUrl(portal, key),
      requiresEligibility: true,
    },
  });

describe('PORTAL_BASE_URL', () => {
  it.each(['http://localhost:8080', 'https://partner.example.com/portal/', 'http://portal.incentives.svc:8080', 'http://10.0.0.7'])(
    'takes %s, and the invitation events built on it keep their contract',
    (portal) => {
      expect(load({ PORTAL_BASE_URL: portal }).PORTAL_BASE_URL).toBe(portal);
      expect(() => issued(portal)).not.toThrow();
    },
  );

  // new URL() takes these; the contract's URL check does not, so every invitation would fail to be built (its decision
  // dead-lettered after the retries) on a service that started without a word.
  it.each(['http://partner_center:8080', 'http://portal.svc.cluster.local.:8080', 'ftp://files.example.com', 'not a url'])(
    'refuses %s at start, without repeating it',
    (portal) => {
      const message = refusal({ PORTAL_BASE_URL: portal });
      expect(message).toContain('PORTAL_BASE_URL (must be an http(s) URL');
      expect(message).not.toContain(portal);
    },
  );
});
