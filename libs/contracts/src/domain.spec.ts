import { decisionFor, keepDecision, KeptDecisions, laterThanNamed, MAX_OTHER_PARTNERS, PartnerDecision } from './domain';
import { decisionRef } from './events/common';

type D = PartnerDecision & { id: string };

describe('keepDecision: which eligibility decisions a view keeps', () => {
  const at = (minute: number) => new Date(Date.UTC(2026, 11, 1) + minute * 60_000);
  // Typed as naming a partner (what keepDecision takes in); the legacy ones without one are only ever kept ones.
  const d = (id: string, minute: number, partnerId?: string) => ({ id, decidedAt: at(minute), ...(partnerId && { partnerId }) }) as D & { partnerId: string };
  const ids = (state: KeptDecisions<D> | null) => state && { kept: state.kept.id, others: state.others.map((o) => o.id) };

  it('keeps the first one, then the later one of the same partner (the same time replaces: a redelivery writes the same)', () => {
    expect(ids(keepDecision(undefined, d('a', 10, 'P1'), false))).toEqual({ kept: 'a', others: [] });
    const stored = { kept: d('a', 10, 'P1'), others: [] };
    expect(ids(keepDecision(stored, d('b', 11, 'P1'), true))).toEqual({ kept: 'b', others: [] });
    expect(ids(keepDecision(stored, d('b', 10, 'P1'), false))).toEqual({ kept: 'b', others: [] });
    expect(keepDecision(stored, d('b', 9, 'P1'), true)).toBeNull();
    expect(keepDecision(stored, d('b', 9, 'P1'), false)).toBeNull();
  });

  it('at the same instant, the one read later on the partition wins: a redelivery of the earlier one does not overtake it', () => {
    const read = (decision: D & { partnerId: string }, partition: number, offset: string) => ({ ...decision, position: { partition, offset } });
    const first = read(d('a', 10, 'P1'), 0, '9');
    const second = read(d('b', 10, 'P1'), 0, '10'); // offsets compare as numbers, not text
    const stored = keepDecision(undefined, first, true)!;
    const afterSecond = keepDecision(stored, second, true)!;
    expect(ids(afterSecond)).toEqual({ kept: 'b', others: [] });
    // The first redelivered (a crash before its chunk was recorded) changes nothing; the second again is current.
    expect(keepDecision(afterSecond, first, true)).toBeNull();
    expect(keepDecision(afterSecond, first, false)).toBeNull();
    expect(ids(keepDecision(afterSecond, second, true))).toEqual({ kept: 'b', others: [] });
    // Another partition (the topic repartitioned), or no position kept: the one arriving wins, as by time alone.
    expect(ids(keepDecision(afterSecond, read(d('c', 10, 'P1'), 1, '0'), true))).toEqual({ kept: 'c', others: [] });
    expect(ids(keepDecision({ kept: d('a', 10, 'P1'), others: [] }, first, true))).toEqual({ kept: 'a', others: [] });
    // A later instant still wins whatever its offset.
    expect(ids(keepDecision(afterSecond, read(d('e', 11, 'P1'), 0, '1'), true))).toEqual({ kept: 'e', others: [] });
  });

  it("location not known: a later decision naming another partner is kept, and the earlier partner's is set aside, not lost", () => {
    const owner = { kept: d('owner', 10, 'P1'), others: [] };
    const after = keepDecision(owner, d('wrong', 11, 'P2'), false)!;
    expect(ids(after)).toEqual({ kept: 'wrong', others: ['owner'] });
    expect(decisionFor(after.kept, after.others, 'P1')?.id).toBe('owner');
    expect(decisionFor(after.kept, after.others, 'P2')?.id).toBe('wrong');
    expect(decisionFor(after.kept, after.others, 'P3')).toBeUndefined();
    // An earlier one of another partner goes aside when it is that partner's latest, and is ignored otherwise.
    expect(ids(keepDecision(owner, d('early', 5, 'P2'), false))).toEqual({ kept: 'owner', others: ['early'] });
    expect(keepDecision(after, d('older', 9, 'P1'), false)).toBeNull();
    expect(ids(keepDecision(after, d('newer', 10.5, 'P1'), false))).toEqual({ kept: 'wrong', others: ['newer'] });
  });

  it("location known as the incoming decision's partner's: that partner's latest is kept, over a later one of another partner, and the others go", () => {
    const wrongOverOwner = { kept: d('wrong', 11, 'P2'), others: [d('owner', 10, 'P1')] };
    // The owner's own decision set aside is later than the one now arriving: it is the one kept.
    expect(ids(keepDecision(wrongOverOwner, d('owner-old', 5, 'P1'), true))).toEqual({ kept: 'owner', others: [] });
    expect(ids(keepDecision(wrongOverOwner, d('owner-new', 12, 'P1'), true))).toEqual({ kept: 'owner-new', others: [] });
    expect(ids(keepDecision({ kept: d('wrong', 11, 'P2'), others: [] }, d('owner', 5, 'P1'), true))).toEqual({ kept: 'owner', others: [] });
    // The owner's kept one stands against its own older decision; what was set aside for others goes.
    expect(ids(keepDecision({ kept: d('owner', 10, 'P1'), others: [d('wrong', 5, 'P2')] }, d('old', 9, 'P1'), true))).toEqual({ kept: 'owner', others: [] });
    expect(keepDecision({ kept: d('owner', 10, 'P1'), others: [] }, d('old', 9, 'P1'), true)).toBeNull();
  });

  it('judges a kept decision that recorded no partner by time alone', () => {
    expect(keepDecision({ kept: d('legacy', 10), others: [] }, d('a', 5, 'P1'), true)).toBeNull();
    expect(ids(keepDecision({ kept: d('legacy', 10), others: [] }, d('a', 11, 'P2'), false))).toEqual({ kept: 'a', others: [] });
    expect(decisionFor(d('legacy', 10), [], 'P9')?.id).toBe('legacy');
  });

  it(`sets aside at most ${MAX_OTHER_PARTNERS} other partners' decisions, the newest`, () => {
    let state: KeptDecisions<D> = { kept: d('k', 100, 'P0'), others: [] };
    for (let i = 1; i <= MAX_OTHER_PARTNERS + 2; i++) state = keepDecision(state, d(`p${i}`, i, `P${i}`), false)!;
    expect(state.kept.id).toBe('k');
    expect(state.others.map((o) => o.id)).toEqual(['p7', 'p6', 'p5', 'p4', 'p3']);
  });
});

describe('laterThanNamed: whether a decision is later than the one an event names as having ended something', () => {
  const at = new Date('2027-03-01T10:00:00Z');
  const named = { eventId: 'ineligible', decidedAt: at.toISOString(), position: { partition: 3, offset: '41' } };

  it('compares times, and never counts the named decision itself as later', () => {
    expect(laterThanNamed({ eventId: 'eligible', decidedAt: new Date(+at + 1) }, named)).toBe(true);
    expect(laterThanNamed({ eventId: 'eligible', decidedAt: new Date(+at - 1) }, named)).toBe(false);
    expect(laterThanNamed({ eventId: 'ineligible', decidedAt: new Date(+at + 1) }, named)).toBe(false);
    // Kept before times were: counted later.
    expect(laterThanNamed({ eventId: 'eligible' }, named)).toBe(true);
  });

  it('at the same instant, orders by where both were read on one partition; counts it later where positions do not tell', () => {
    const tied = (position?: { partition: number; offset: string }) => laterThanNamed({ eventId: 'eligible', decidedAt: at, position }, named);
    expect(tied({ partition: 3, offset: '40' })).toBe(false);
    expect(tied({ partition: 3, offset: '42' })).toBe(true);
    // Offsets compared as numbers, not as text ('9' > '10' as text).
    expect(laterThanNamed({ eventId: 'eligible', decidedAt: at, position: { partition: 3, offset: '9' } }, { ...named, position: { partition: 3, offset: '10' } })).toBe(false);
    expect(tied({ partition: 4, offset: '40' })).toBe(true);
    expect(tied(undefined)).toBe(true);
    expect(laterThanNamed({ eventId: 'eligible', decidedAt: at, position: { partition: 3, offset: '40' } }, { eventId: 'ineligible', decidedAt: at })).toBe(true);
  });
});

describe('decisionRef: a decision as events name it', () => {
  it('keeps its id, time and position only, in the contract’s shapes', () => {
    const view = { eventId: 'd1', decidedAt: new Date('2027-03-01T10:00:00+00:00'), position: { partition: 2, offset: '17', extra: 1 }, eligible: false, reasons: ['x'] };
    expect(decisionRef(view)).toEqual({ eventId: 'd1', decidedAt: '2027-03-01T10:00:00.000Z', position: { partition: 2, offset: '17' } });
    expect(decisionRef({ eventId: 'd1', decidedAt: '2027-03-01T11:00:00+01:00' })).toEqual({ eventId: 'd1', decidedAt: '2027-03-01T10:00:00.000Z' });
    expect(decisionRef({ eventId: 'd1', decidedAt: '2027-03-01T10:00:00Z', position: null })).not.toHaveProperty('position');
  });
});
