import { isLinkUrl } from '@lib/contracts';
import { flag, PlatformConfig } from '@lib/platform';
import { makeValidator } from 'envalid';
import { getStartedUrl } from './invitations/invitation-ids';

/**
 * The portal's base URL, refused at start unless the Get Started links built on it are links the event contract
 * accepts: `new URL` takes a host with an underscore or a trailing dot that the contract's URL check does not, and
 * every invitation event would then fail to be built (its decision dead-lettered after the retries). Not repeated.
 */
const portalBaseUrl = makeValidator<string>((value) => {
  if (!isLinkUrl(getStartedUrl(value, { programId: 'program', locationId: 'location', fiscalYear: 'FY27' }))) {
    throw new Error('must be an http(s) URL whose host is a name without underscores or a trailing dot, or an IP address');
  }
  return value;
});

/** Settings of the invitations service, validated at start with the common ones. */
export const invitationsConfigSpec = {
  /** Where the partner portal lives: the Get Started link of an invitation points into it. */
  PORTAL_BASE_URL: portalBaseUrl({ default: 'http://localhost:8080', desc: 'Base URL of the partner portal (Get Started links)' }),
  /**
   * Whether the first start on an empty database reads an earlier deployment's events on invitations.events.v1 for the
   * versions and cycles its invitations start above (HistoryFloors). Off only where that topic is known to hold no
   * events of this service's invitations from another database (the tests: each suite a new database, the topic
   * shared).
   */
  INVITATIONS_HISTORY_FLOORS: flag({
    default: true,
    desc: "On a first start on an empty database, read invitations.events.v1's earlier events for the versions and cycles invitations start above",
  }),
};

export type InvitationsConfig = PlatformConfig & { PORTAL_BASE_URL: string; INVITATIONS_HISTORY_FLOORS: boolean };
