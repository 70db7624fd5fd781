import type { NotificationConfig } from '../config';
import { InvitationDigests } from './invitation-digests';

const WINDOW = 60_000;

function gate(after = 2) {
  const config = { NOTIFY_DIGEST_AFTER: after, NOTIFY_DIGEST_WINDOW_MS: WINDOW } as NotificationConfig;
  const none = {} as never;
  return new InvitationDigests(none, none, none, none, none, config);
}

const at = (ms: number) => new Date(1_800_000_000_000 + ms);

describe('InvitationDigests.gather', () => {
  it("sends a recipient's first NOTIFY_DIGEST_AFTER invitation emails alone, then gathers the others into one digest sent a window after the first", () => {
    const digests = gate(2);
    expect(digests.gather('u1', 'p1', at(0))).toBeNull();
    expect(digests.gather('u1', 'p1', at(1_000))).toBeNull();
    const first = digests.gather('u1', 'p1', at(2_000));
    expect(first).toEqual({ id: expect.stringMatching(/^invitation-digest-[0-9a-f-]+:u1:EMAIL$/), sendAt: at(2_000 + WINDOW) });
    expect(digests.gather('u1', 'p1', at(30_000))).toEqual(first);
  });

  it('counts an email asked about again (its handler retried before its write) once: the next one still goes alone', () => {
    const digests = gate(2);
    expect(digests.gather('u1', 'p1', at(0), 'e1:u1:EMAIL')).toBeNull();
    expect(digests.gather('u1', 'p1', at(500), 'e1:u1:EMAIL')).toBeNull();
    expect(digests.gather('u1', 'p1', at(1_000), 'e2:u1:EMAIL')).toBeNull();
    expect(digests.gather('u1', 'p1', at(2_000), 'e3:u1:EMAIL')).not.toBeNull();
  });

  it('counts each recipient of each partner apart', () => {
    const digests = gate(1);
    expect(digests.gather('u1', 'p1', at(0))).toBeNull();
    expect(digests.gather('u2', 'p1', at(0))).toBeNull();
    expect(digests.gather('u1', 'p2', at(0))).toBeNull();
    expect(digests.gather('u1', 'p1', at(1))).not.toBeNull();
  });

  it('opens the next digest once the open one is about to be sent, while the emails keep coming', () => {
    const digests = gate(1);
    digests.gather('u1', 'p1', at(0));
    const first = digests.gather('u1', 'p1', at(1_000))!;
    // Five seconds before its sending it is not joined any more: the next one is opened, a window later.
    const next = digests.gather('u1', 'p1', at(1_000 + WINDOW - 5_000))!;
    expect(next.id).not.toBe(first.id);
    expect(next.sendAt).toEqual(at(1_000 + 2 * WINDOW - 5_000));
  });

  it('sends one by one again after a quiet window', () => {
    const digests = gate(1);
    digests.gather('u1', 'p1', at(0));
    expect(digests.gather('u1', 'p1', at(1_000))).not.toBeNull();
    expect(digests.gather('u1', 'p1', at(1_000 + WINDOW))).toBeNull();
    expect(digests.gather('u1', 'p1', at(2_000 + WINDOW))).not.toBeNull();
  });

  it('never gathers when NOTIFY_DIGEST_AFTER is 0', () => {
    const digests = gate(0);
    for (let i = 0; i < 10; i++) expect(digests.gather('u1', 'p1', at(i))).toBeNull();
  });
});
