import { replacesDecision } from './domain';

describe('replacesDecision: which eligibility decision a view keeps', () => {
  const at = (minute: number) => new Date(Date.UTC(2026, 11, 1, 0, minute));
  const kept = { decidedAt: at(10), partnerId: 'P-other' };

  it('keeps the later one by occurredAt (the same time replaces: a redelivery writes the same)', () => {
    expect(replacesDecision({ decidedAt: at(10), partnerId: 'P1' }, { decidedAt: at(11), partnerId: 'P1' }, true)).toBe(true);
    expect(replacesDecision({ decidedAt: at(10), partnerId: 'P1' }, { decidedAt: at(10), partnerId: 'P1' }, true)).toBe(true);
    expect(replacesDecision({ decidedAt: at(10), partnerId: 'P1' }, { decidedAt: at(9), partnerId: 'P1' }, true)).toBe(false);
  });

  it("lets the location's own partner replace a later one naming another partner, once the location is known as its", () => {
    expect(replacesDecision(kept, { decidedAt: at(5), partnerId: 'P1' }, true)).toBe(true);
    expect(replacesDecision(kept, { decidedAt: at(5), partnerId: 'P1' }, false)).toBe(false);
  });

  it('judges a kept decision that recorded no partner by time alone', () => {
    expect(replacesDecision({ decidedAt: at(10) }, { decidedAt: at(5), partnerId: 'P1' }, true)).toBe(false);
  });
});
