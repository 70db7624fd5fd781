import { MalformedMessageError, parseEvent } from './parse';
import { Topics } from './topics';

const decision = (occurredAt: unknown) =>
  JSON.stringify({
    eventId: 'e1',
    type: 'EligibilityDetermined',
    version: 1,
    occurredAt,
    source: 'eligibility',
    correlationId: 'c1',
    partnerId: 'P1',
    locationId: 'L1',
    data: { programId: 'PR1', locationId: 'L1', partnerId: 'P1', fiscalYear: 'FY27', eligible: true, reasons: [] },
  });

describe('parseEvent: occurredAt', () => {
  it.each(['2026-07-01T10:00:00Z', '2026-07-01T10:00:00.123+02:00', '2026-07-01'])('accepts an ISO-8601 date (%s)', (occurredAt) => {
    const { envelope, known } = parseEvent(Topics.eligibility, decision(occurredAt));
    expect(known).toBe(true);
    expect(new Date(envelope.occurredAt).toISOString()).toBe(new Date(occurredAt).toISOString());
  });

  // Consumers keep the newer fact by this time: an unreadable one was stored as 1970 or compared as NaN (never newer).
  it.each(['yesterday', '2026-13-45T10:00:00Z', '2026-07-01 10:00', '1782900000000', ''])('rejects %j as malformed (dead-lettered)', (occurredAt) => {
    expect(() => parseEvent(Topics.eligibility, decision(occurredAt))).toThrow(MalformedMessageError);
    expect(() => parseEvent(Topics.eligibility, decision(occurredAt))).toThrow('occurredAt: must be an ISO-8601 date');
  });

  it('still names a missing occurredAt by its type', () => {
    expect(() => parseEvent(Topics.eligibility, decision(undefined))).toThrow('occurredAt: must be a string');
  });
});
