import { AGREEMENT_HISTORY, agreementActiveAt, withAgreementStatus } from './agreement-status';
import { AgreementStatus, AgreementView } from './views.schemas';

const at = (iso: string) => new Date(iso);
const status = (active: boolean, iso: string, offset?: number): AgreementStatus => ({ active, changedAt: at(iso), ...(offset !== undefined && { position: { partition: 0, offset: String(offset) } }) });
const view = (statuses: AgreementStatus[]): AgreementView => {
  const [now, ...earlier] = statuses;
  return { _id: 'p', active: now.active, changedAt: now.changedAt, position: now.position, earlier };
};
const record = (statuses: AgreementStatus[], ...more: AgreementStatus[]) => more.reduce((kept, s) => withAgreementStatus(kept, s) ?? kept, statuses);
const YEAR_START = at('2027-07-01T00:00:00Z');

describe("a partner's agreement statuses", () => {
  it('keeps the status in force as a year began, whatever changed after it, in whatever order the changes came', () => {
    const lapsed = status(false, '2027-06-15T00:00:00Z', 1);
    const reactivated = status(true, '2027-07-03T00:00:00Z', 2);
    for (const order of [[lapsed, reactivated], [reactivated, lapsed]]) {
      const statuses = record([], ...order);
      expect(statuses).toEqual([reactivated, lapsed]);
      expect(agreementActiveAt(view(statuses), YEAR_START)).toBe(false);
      expect(agreementActiveAt(view(statuses), at('2027-07-03T00:00:00Z'))).toBe(true);
    }
    // Ended the day after the year began: it was active then.
    expect(agreementActiveAt(view(record([], status(false, '2027-07-02T00:00:00Z', 3))), YEAR_START)).toBe(true);
    // Changed at the year's first instant: in force as it began.
    expect(agreementActiveAt(view(record([], status(false, '2027-07-01T00:00:00Z', 3))), YEAR_START)).toBe(false);
  });

  it('reads the current status when no instant is given, whenever an outside clock stamped it', () => {
    const ahead = view([status(false, new Date(Date.now() + 60_000).toISOString(), 1)]);
    expect(agreementActiveAt(ahead)).toBe(false);
    expect(agreementActiveAt(ahead, new Date())).toBe(true);
    expect(agreementActiveAt(undefined)).toBe(true);
  });

  it('counts a partner never heard of, or not heard of yet at the instant, as active', () => {
    expect(agreementActiveAt(undefined, YEAR_START)).toBe(true);
    expect(agreementActiveAt(view([status(false, '2027-08-01T00:00:00Z')]), YEAR_START)).toBe(true);
  });

  it('changes nothing for the same status again; at the same instant, the one read later wins', () => {
    const first = record([], status(false, '2027-06-01T00:00:00Z', 5));
    expect(withAgreementStatus(first, status(false, '2027-06-01T00:00:00Z', 5))).toBeNull();
    // A row written before positions were kept: the same status again, read with its position now.
    expect(withAgreementStatus([status(false, '2027-06-01T00:00:00Z')], status(false, '2027-06-01T00:00:00Z', 5))).toBeNull();
    const later = record(first, status(true, '2027-06-01T00:00:00Z', 6));
    expect(later[0].active).toBe(true);
    // The earlier one of that instant redelivered: no change, the later stays current.
    expect(withAgreementStatus(later, status(false, '2027-06-01T00:00:00Z', 5))).toBeNull();
    expect(agreementActiveAt(view(later), YEAR_START)).toBe(true);
  });

  it(`keeps the newest ${AGREEMENT_HISTORY + 1}; one older than all of those changes nothing; the oldest kept stands for the ones let go`, () => {
    const changes = Array.from({ length: AGREEMENT_HISTORY + 5 }, (_, i) => status(i % 2 === 0, new Date(Date.UTC(2027, 7, 1 + i)).toISOString(), i));
    const statuses = record([], ...changes);
    expect(statuses).toHaveLength(AGREEMENT_HISTORY + 1);
    expect(statuses[0]).toBe(changes[changes.length - 1]);
    expect(statuses[AGREEMENT_HISTORY]).toBe(changes[4]);
    expect(withAgreementStatus(statuses, status(false, '2027-07-15T00:00:00Z', 99))).toBeNull();
    // Before every status kept, older ones let go: not known; the oldest kept (changes[4], active) stands for it.
    expect(agreementActiveAt(view(statuses), YEAR_START)).toBe(true);
    // One more than kept: the first let go, the oldest kept (changes[1]) inactive.
    const lapsed = record([], ...changes.slice(0, AGREEMENT_HISTORY + 2));
    expect(lapsed[AGREEMENT_HISTORY]).toBe(changes[1]);
    expect(agreementActiveAt(view(lapsed), YEAR_START)).toBe(false);
  });
});
