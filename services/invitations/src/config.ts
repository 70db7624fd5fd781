import { PlatformConfig, urlSetting } from '@lib/platform';

/** Settings of the invitations service, validated at start with the common ones. */
export const invitationsConfigSpec = {
  /** Where the partner portal lives: the Get Started link of an invitation points into it. */
  PORTAL_BASE_URL: urlSetting({ default: 'http://localhost:8080', desc: 'Base URL of the partner portal (Get Started links)' }),
};

export type InvitationsConfig = PlatformConfig & { PORTAL_BASE_URL: string };
