import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { CATALOG } from './catalog';
import { buildEvent, MalformedMessageError, parseEvent } from './parse';
import { Topics } from './topics';

/** Where `@Type(() => X)` is recorded (not exported from the package root, see asyncapi.ts). */
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as typeof import('class-transformer/types/storage');

const decision = (occurredAt: unknown, eventId: unknown = '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90') =>
  JSON.stringify({
    eventId,
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
  // '2026-07-01T10:00:00': a time without its offset is read in the consumer's own time zone.
  it.each(['yesterday', '2026-13-45T10:00:00Z', '2026-07-01 10:00', '1782900000000', '', '2026-07-01T10:00:00', '2026-07-01T10:00:00.123'])('rejects %j as malformed (dead-lettered)', (occurredAt) => {
    expect(() => parseEvent(Topics.eligibility, decision(occurredAt))).toThrow(MalformedMessageError);
    expect(() => parseEvent(Topics.eligibility, decision(occurredAt))).toThrow('occurredAt: must be an ISO-8601 date');
  });

  // A view keeps the newer fact by it: one dated ahead (a typo, a clock a year off) would shadow every correct one after it.
  it("rejects an outside system's event dated more than an hour ahead of when it was written, and takes one within", () => {
    const now = Date.parse('2026-12-03T10:00:00Z');
    expect(() => parseEvent(Topics.eligibility, decision('2099-01-01T00:00:00Z'), now)).toThrow(MalformedMessageError);
    expect(() => parseEvent(Topics.agreements, JSON.stringify({ ...JSON.parse(decision('2026-12-03T11:00:01Z')), type: 'AgreementStatusChanged', data: { partnerId: 'P1', active: true } }), now)).toThrow(
      'occurredAt: must not be more than 60 minutes ahead of when the message was written (2026-12-03T10:00:00.000Z)',
    );
    expect(parseEvent(Topics.eligibility, decision('2026-12-03T10:59:59Z'), now).known).toBe(true);
    // A date alone is its midnight UTC, as consumers order it: a Sydney system's "today" (the 3rd) at 22:00 UTC on the
    // 2nd would be stored two hours ahead and shadow its later events stamped with a time. Refused, saying what to send.
    const sydneyMorning = Date.parse('2026-12-02T22:00:00Z');
    expect(() => parseEvent(Topics.eligibility, decision('2026-12-03'), sydneyMorning)).toThrow(
      'occurredAt: must not be more than 60 minutes ahead of when the message was written (2026-12-02T22:00:00.000Z); a date alone is read as its midnight UTC: send the date and time with its offset',
    );
    expect(parseEvent(Topics.eligibility, decision('2026-12-03'), Date.parse('2026-12-02T23:00:00Z')).known).toBe(true);
    expect(parseEvent(Topics.eligibility, decision('2026-12-03T08:00:00+10:00'), sydneyMorning).known).toBe(true);
    // The platform's own services: their clocks are theirs to keep (no view of another system is shadowed by them).
    const ownProgram = JSON.stringify({
      ...JSON.parse(decision('2099-01-01T00:00:00Z')),
      type: 'ProgramCreated',
      data: { program: { programId: 'PR1', name: 'Program', fiscalYear: 'FY27', requiresEligibility: true, state: 'OPEN', revision: 1, payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['CHECK'], taxProfileRequired: false } } },
    });
    expect(parseEvent(Topics.programs, ownProgram, now).known).toBe(true);
  });

  it.each([0, -1, 2.5])('rejects envelope version %j (a whole number from 1)', (version) => {
    const message = JSON.stringify({ ...JSON.parse(decision('2026-07-01T10:00:00Z')), version });
    expect(() => parseEvent(Topics.eligibility, message)).toThrow('version: must be a whole number from 1');
  });

  it('rejects a data array (a batch of events in one message) naming the field, not a validation error without one', () => {
    const batch = JSON.stringify({ ...JSON.parse(decision('2026-07-01T10:00:00Z')), data: [JSON.parse(decision('2026-07-01T10:00:00Z')).data] });
    expect(() => parseEvent(Topics.eligibility, batch)).toThrow('invalid envelope: data: must be a JSON object (one event per message), not an array');
  });

  it('still names a missing occurredAt by its type', () => {
    expect(() => parseEvent(Topics.eligibility, decision(undefined))).toThrow('occurredAt: must be a string');
  });
});

// The ledger skips an event whose id was applied: an empty or made-up id would have the next such event skipped silently.
describe('parseEvent: event types', () => {
  // Names Object.prototype has are no types of the contract: skipped as unknown, not dead-lettered (or a TypeError).
  it.each(['constructor', 'toString', 'hasOwnProperty', '__proto__', 'SomethingNew'])('skips %s as an unknown type', (type) => {
    const value = JSON.stringify({ ...JSON.parse(decision('2026-07-01T10:00:00Z')), type });
    expect(parseEvent(Topics.eligibility, value).known).toBe(false);
  });

  // Nothing of an unknown type is turned into a payload or stored: the checks on what a consumer would store or walk do
  // not apply to it (a new type may carry a map keyed by dotted names, or larger than any type this release reads).
  it.each([
    ['a dotted field name', { scores: { 'azure.compute': 0.8 } }],
    ['a leading $', { $schema: 'x' }],
    ['more than 200 fields', { scores: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`s${i}`, i])) }],
    ['nesting deeper than 32', { tree: JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)) }],
  ])('skips an unknown type whose data holds %s (not dead-lettered)', (_what, data) => {
    const value = JSON.stringify({ ...JSON.parse(decision('2026-07-01T10:00:00Z')), type: 'EligibilityScored', data, 'trace.id': 'x' });
    expect(parseEvent(Topics.eligibility, value).known).toBe(false);
    // The same data under a known type is still refused.
    expect(() => parseEvent(Topics.eligibility, JSON.stringify({ ...JSON.parse(value), type: 'EligibilityDetermined' }))).toThrow(MalformedMessageError);
  });

  it('still dead-letters an unknown type whose envelope cannot be read (its eventId, its time)', () => {
    const value = (fields: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(decision('2026-07-01T10:00:00Z')), type: 'EligibilityScored', ...fields });
    expect(() => parseEvent(Topics.eligibility, value({ eventId: 'e1' }))).toThrow('eventId: must be a UUID');
    expect(() => parseEvent(Topics.eligibility, value({ occurredAt: 'yesterday' }))).toThrow('occurredAt: must be an ISO-8601');
  });
});

describe('parseEvent: eventId', () => {
  // The nil and max UUIDs: a publisher's placeholder would have every later event skipped as a duplicate of the first.
  it.each(['', 'e1', '42', '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c9', '7f0c6a52x3b7e-4c38-9a51-2f4d5b1e8c90', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'])('rejects %j as malformed (dead-lettered)', (eventId) => {
    expect(() => parseEvent(Topics.eligibility, decision('2026-07-01T10:00:00Z', eventId))).toThrow(MalformedMessageError);
    expect(() => parseEvent(Topics.eligibility, decision('2026-07-01T10:00:00Z', eventId))).toThrow('eventId: must be a UUID');
  });

  it.each([
    '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90',
    '7F0C6A52-3B7E-5C38-9A51-2F4D5B1E8C90',
    'C1A4C5E4-5B4C-E311-BE7B-0026B9B5C0D0', // SQL Server NEWSEQUENTIALID(): no RFC 9562 version digit
    '7f0c6a52-3b7e-4c38-ca51-2f4d5b1e8c90', // Microsoft's variant
  ])('accepts a UUID (%s), as JSON Schema\'s uuid format does', (eventId) => {
    expect(parseEvent(Topics.eligibility, decision('2026-07-01T10:00:00Z', eventId)).envelope.eventId).toBe(eventId);
  });
});

/**
 * class-validator skips @ValidateNested when the value is undefined (and walks an array where an object is
 * expected), so a payload without its required nested object was accepted and the handler failed later with a
 * TypeError: retried as transient and dead-lettered as such instead of at once as malformed.
 */
describe('parseEvent: required nested objects', () => {
  const envelope = (type: string, data: unknown) =>
    JSON.stringify({ eventId: '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90', type, version: 1, occurredAt: '2026-07-01T10:00:00Z', source: 'test', correlationId: 'c1', partnerId: 'P1', data });
  const user = {
    userId: 'U1', partnerId: 'P1', email: 'a@example.com', displayName: 'A', active: true, revision: 1,
    roles: [{ role: 'INCENTIVES_ADMIN', locationIds: ['L1'] }],
  };
  const payoutRules = { allowedCurrencies: ['USD'], allowedPaymentMethods: ['CHECK'], taxProfileRequired: false };
  const program = { programId: 'PR1', name: 'Program', fiscalYear: 'FY27', requiresEligibility: true, payoutRules, state: 'OPEN', revision: 1 };
  const invitation = {
    invitationId: 'I1', programId: 'PR1', partnerId: 'P1', locationId: 'L1', fiscalYear: 'FY27',
    recipients: [{ userId: 'U1', email: 'a@example.com' }], channels: ['EMAIL'], getStartedUrl: 'http://localhost/start', requiresEligibility: true,
  };
  const without = (object: Record<string, unknown>, field: string) => Object.fromEntries(Object.entries(object).filter(([key]) => key !== field));

  /** A valid payload of each event type that has a nested object or array of objects. */
  const valid: Array<[string, string, Record<string, unknown>]> = [
    [Topics.identity, 'PartnerRegistered', { partnerId: 'P1', name: 'Partner', locations: [{ locationId: 'L1', country: 'US', legalName: 'L' }] }],
    [Topics.identity, 'UserCreated', { user }],
    [Topics.identity, 'UserUpdated', { user }],
    [Topics.identity, 'UserDeactivated', { user }],
    [Topics.identity, 'RoleAssigned', { user, role: 'INCENTIVES_ADMIN', locationIds: ['L1'] }],
    [Topics.identity, 'RoleRevoked', { user, role: 'INCENTIVES_ADMIN', locationIds: ['L1'] }],
    [Topics.programs, 'ProgramCreated', { program }],
    [Topics.programs, 'ProgramUpdated', { program }],
    [Topics.invitations, 'InvitationIssued', invitation],
    [Topics.invitations, 'InvitationDelivered', invitation],
    [Topics.invitations, 'AdminAssignmentRequested', without(invitation, 'channels')],
  ];
  /** Each required nested field of those payloads: [type, dotted path of the field]. */
  const nested: Array<[string, string]> = [
    ['PartnerRegistered', 'locations'],
    ['UserCreated', 'user'],
    ['UserUpdated', 'user'],
    ['UserDeactivated', 'user'],
    ['RoleAssigned', 'user'],
    ['RoleRevoked', 'user'],
    ['UserUpdated', 'user.roles'],
    ['ProgramCreated', 'program'],
    ['ProgramUpdated', 'program'],
    ['ProgramUpdated', 'program.payoutRules'],
    ['InvitationIssued', 'recipients'],
    ['AdminAssignmentRequested', 'recipients'],
  ];
  const topicOf = (type: string) => valid.find(([, t]) => t === type)![0];
  const dataOf = (type: string) => structuredClone(valid.find(([, t]) => t === type)![2]);
  /** The valid payload of `type` with the field at `dotted` set to `value` (removed when undefined). */
  const replaced = (type: string, dotted: string, value: unknown) => {
    const path = dotted.split('.');
    const field = path.pop()!;
    const data = dataOf(type);
    const holder = path.reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, data);
    if (value === undefined) delete holder[field];
    else holder[field] = value;
    return data;
  };

  it.each(valid)('accepts a complete %s %s', (topic, type, data) => {
    expect(parseEvent(topic, envelope(type, data)).known).toBe(true);
  });

  it.each(nested)('rejects %s without %s as malformed, naming the field', (type, dotted) => {
    const message = envelope(type, replaced(type, dotted, undefined));
    expect(() => parseEvent(topicOf(type), message)).toThrow(MalformedMessageError);
    expect(() => parseEvent(topicOf(type), message)).toThrow(`${dotted}: `);
  });

  it.each(nested.flatMap(([type, dotted]) => [null, 'x', 1, true].map((value) => [type, dotted, value] as const)))(
    'rejects %s with %s = %j as malformed',
    (type, dotted, value) => {
      expect(() => parseEvent(topicOf(type), envelope(type, replaced(type, dotted, value)))).toThrow(MalformedMessageError);
    },
  );

  it.each(nested.filter(([, dotted]) => !/(locations|recipients|roles)$/.test(dotted)))(
    'rejects %s with %s = [] (an object is required) as malformed',
    (type, dotted) => {
      expect(() => parseEvent(topicOf(type), envelope(type, replaced(type, dotted, [])))).toThrow(MalformedMessageError);
    },
  );

  // class-validator walks an array it is told to validate as nested as a list: an empty array inside one passed.
  it.each(nested.filter(([, dotted]) => /(locations|recipients|roles)$/.test(dotted)).flatMap(([type, dotted]) => [[], [[]], ['x']].map((item) => [type, dotted, item] as const)))(
    'rejects %s with %s = [%j] (each item an object) as malformed, naming the field',
    (type, dotted, item) => {
      const message = envelope(type, replaced(type, dotted, [item]));
      expect(() => parseEvent(topicOf(type), message)).toThrow(MalformedMessageError);
      expect(() => parseEvent(topicOf(type), message)).toThrow(`${dotted}: `);
    },
  );

  it.each([
    ['RoleAssigned with data {}', 'RoleAssigned', {}],
    ['UserCreated with data {}', 'UserCreated', {}],
    ['ProgramUpdated with data {}', 'ProgramUpdated', {}],
    ['ProgramUpdated without payoutRules', 'ProgramUpdated', { program: without(program, 'payoutRules') }],
    ['UserCreated with an empty user', 'UserCreated', { user: {} }],
  ])('rejects %s as malformed', (_name, type, data) => {
    expect(() => parseEvent(topicOf(type), envelope(type, data))).toThrow(MalformedMessageError);
  });

  it('rejects a payload that is an array instead of an object', () => {
    expect(() => parseEvent(Topics.programs, envelope('ProgramUpdated', []))).toThrow(MalformedMessageError);
  });

  it('rejects data {} for every event type of the catalog (each has at least one required field)', () => {
    const accepted = Object.values(CATALOG).flatMap((contract) =>
      Object.keys(contract.types).filter((type) => {
        try {
          parseEvent(contract.topic, envelope(type, {}));
          return true;
        } catch (error) {
          if (!(error instanceof MalformedMessageError)) throw error;
          return false;
        }
      }),
    );
    expect(accepted).toEqual([]);
  });

  it('every nested property of every payload class is either @IsOptional or @IsDefined', () => {
    const storage = getMetadataStorage();
    const classes = new Set<Function>(Object.values(CATALOG).flatMap((contract) => Object.values(contract.types)));
    const seen = new Set<Function>();
    const loose: string[] = [];
    const visit = (cls: Function) => {
      if (seen.has(cls)) return;
      seen.add(cls);
      const metadatas = storage.getTargetValidationMetadatas(cls, '', true, false);
      const byProperty = new Map<string, string[]>();
      for (const m of metadatas) byProperty.set(m.propertyName, [...(byProperty.get(m.propertyName) ?? []), m.type]);
      for (const [property, types] of byProperty) {
        if (!types.includes(ValidationTypes.NESTED_VALIDATION)) continue;
        if (!types.includes(ValidationTypes.CONDITIONAL_VALIDATION) && !types.includes(ValidationTypes.IS_DEFINED)) loose.push(`${cls.name}.${property}`);
        const element = defaultMetadataStorage.findTypeMetadata(cls, property)?.typeFunction();
        if (element) visit(element);
      }
    };
    classes.forEach(visit);
    expect(loose).toEqual([]);
  });
});

describe('parseEvent: the ids of outside systems', () => {
  const envelope = (type: string, data: Record<string, unknown>) =>
    JSON.stringify({ eventId: '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90', type, version: 1, occurredAt: '2026-07-01T10:00:00Z', source: 'outside', correlationId: 'c1', data });
  const eligibility = (change: Record<string, unknown>) =>
    envelope('EligibilityDetermined', { programId: 'PR1', locationId: 'L1', partnerId: 'P1', fiscalYear: 'FY27', eligible: true, ...change });

  // Such an id names nothing the platform can hold (partner, location and program ids are 1-64 letters, digits, ".",
  // "_" or "-"): stored, a decision for location "" would sit in the views for good.
  it.each([
    ['a blank program id', { programId: '' }, 'programId'],
    ['a program id of spaces', { programId: '   ' }, 'programId'],
    ['a blank location id', { locationId: '' }, 'locationId'],
    ['all locations (*) for one location', { locationId: '*' }, 'locationId'],
    ['a blank partner id', { partnerId: ' ' }, 'partnerId'],
  ])('dead-letters an eligibility decision with %s', (_, change, field) => {
    expect(() => parseEvent(Topics.eligibility, eligibility(change))).toThrow(new RegExp(`${field}: must be 1-64 letters`));
  });

  it('dead-letters an eligibility decision with more than 50 reasons, or one longer than 1,000 characters (a partner reads them)', () => {
    expect(() => parseEvent(Topics.eligibility, eligibility({ eligible: false, reasons: Array.from({ length: 51 }, (_, i) => `reason ${i}`) }))).toThrow(/reasons must be at most 50 reasons/);
    expect(() => parseEvent(Topics.eligibility, eligibility({ eligible: false, reasons: ['x'.repeat(1_001)] }))).toThrow(/each reason must be at most 1000 characters/);
    expect(parseEvent(Topics.eligibility, eligibility({ eligible: false, reasons: Array.from({ length: 50 }, () => 'x'.repeat(1_000)) })).known).toBe(true);
  });

  it('dead-letters data with an object of more than 200 fields, or nested more than 32 deep, before turning it into its payload (quadratic in its fields)', () => {
    const many = Object.fromEntries(Array.from({ length: 90_000 }, (_, i) => [`f${i}`, i]));
    const started = Date.now();
    expect(() => parseEvent(Topics.eligibility, eligibility({ extra: many }))).toThrow(/data\.extra: must have at most 200 fields \(it has 90000\)/);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(() => parseEvent(Topics.eligibility, eligibility({ ...Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`f${i}`, i])) }))).toThrow(/^invalid envelope: data: must have at most 200 fields \(it has 205\)/);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 40; i++) deep = { deeper: deep };
    expect(() => parseEvent(Topics.eligibility, eligibility({ extra: deep }))).toThrow(/nested more than 32 levels deep/);
    // Unknown fields of a reasonable size are kept, as before.
    expect(parseEvent(Topics.eligibility, eligibility({ extra: { a: 1, b: [{ c: 2 }] } })).known).toBe(true);
  });

  // Kept and stored (a consumer may record the event whole), such a name fails the write on every redelivery, and the
  // writes batched with it; no contract field is named so.
  it.each([
    ['a NUL', { 'a\u0000b': 1 }, /data\.a\u0000b: a field name must not contain a NUL character/],
    ['_bsontype', { extra: { _bsontype: 'a' } }, /data\.extra\._bsontype: a field must not be named _bsontype/],
    ['a leading $', { extra: { $where: 'x' } }, /data\.extra\.\$where: a field name must not start with "\$" nor contain "\."/],
    ['a dot', { 'a.b': 1 }, /data\.a\.b: a field name must not start/],
  ])('dead-letters a field whose name holds %s, in the data or the envelope, saying which', (_what, field, message) => {
    expect(() => parseEvent(Topics.eligibility, eligibility(field))).toThrow(message);
    const withEnvelopeField = JSON.stringify({ ...JSON.parse(eligibility({})), trace: field });
    expect(() => parseEvent(Topics.eligibility, withEnvelopeField)).toThrow(/^invalid envelope: trace\./);
  });

  it('dead-letters an agreement status or a validation result naming a blank partner or profile', () => {
    expect(() => parseEvent(Topics.agreements, envelope('AgreementStatusChanged', { partnerId: '', active: true }))).toThrow(/partnerId: must be 1-64 letters/);
    const result = { profileId: '', profileKind: 'BANK', revision: 1, outcome: 'APPROVED' };
    expect(() => parseEvent(Topics.validationResults, envelope('ProfileValidationCompleted', result))).toThrow(/profileId: must be 1-64 letters/);
  });

  it('accepts the ids the platform makes (a UUID, a partner system id)', () => {
    expect(parseEvent(Topics.eligibility, eligibility({ programId: '2f4d5b1e-8c90-4c38-9a51-7f0c6a523b7e', locationId: 'LOC-FA_1.2' })).known).toBe(true);
  });
});

describe('parseEvent: the envelope and its payload name the same partner and location', () => {
  const message = (envelope: Record<string, unknown>, data: Record<string, unknown>) =>
    JSON.stringify({ eventId: '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90', type: 'EligibilityDetermined', version: 1, occurredAt: '2026-07-01T10:00:00Z', source: 'eligibility', correlationId: 'c1', ...envelope,
      data: { programId: 'PR1', locationId: 'L1', partnerId: 'P1', fiscalYear: 'FY27', eligible: true, reasons: [], ...data } });

  // One of the two is wrong and nothing says which: applied, the views would keep the data's partner while whoever reads
  // the envelope sees another. Dead-lettered, with both named.
  it.each([
    ['partnerId', { partnerId: 'P2' }, /partnerId: the envelope names "P2", its data "P1"/],
    ['locationId', { locationId: 'L2' }, /locationId: the envelope names "L2", its data "L1"/],
  ])('dead-letters an event whose envelope names another %s than its data', (_, envelope, reason) => {
    expect(() => parseEvent(Topics.eligibility, message(envelope, {}))).toThrow(MalformedMessageError);
    expect(() => parseEvent(Topics.eligibility, message(envelope, {}))).toThrow(reason);
  });

  it('takes one whose envelope names them as its data does, or leaves them out, or names what its data does not hold', () => {
    expect(parseEvent(Topics.eligibility, message({ partnerId: 'P1', locationId: 'L1' }, {})).known).toBe(true);
    expect(parseEvent(Topics.eligibility, message({}, {})).known).toBe(true);
    // Empty, as some serializers write an unset field: names nothing (as the key check and the results handler read it).
    expect(parseEvent(Topics.eligibility, message({ partnerId: '', locationId: '' }, {})).known).toBe(true);
    const agreement = JSON.stringify({ eventId: '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90', type: 'AgreementStatusChanged', version: 1, occurredAt: '2026-07-01T10:00:00Z', source: 'agreements', correlationId: 'c1', partnerId: 'P1', locationId: 'L9', data: { partnerId: 'P1', active: true } });
    expect(parseEvent(Topics.agreements, agreement).known).toBe(true);
    expect(() => parseEvent(Topics.agreements, agreement.replace('"partnerId":"P1","locationId"', '"partnerId":"P7","locationId"'))).toThrow(/partnerId: the envelope names "P7"/);
  });
});

describe('parseEvent: the year a continuation came from', () => {
  const enrollmentEvent = (type: string, extra: Record<string, unknown>) =>
    JSON.stringify({
      eventId: '0b5d2f7e-8a41-4c7e-9d3a-6f1e2c4b5a90',
      type,
      version: 1,
      occurredAt: '2026-07-01T10:00:00Z',
      source: 'enrollment',
      correlationId: 'c1',
      partnerId: 'P1',
      locationId: 'L1',
      data: { enrollmentId: 'E1', programId: 'PR1', partnerId: 'P1', locationId: 'L1', fiscalYear: 'FY28', status: 'ENROLLED', reasons: [], missing: [], revision: 1, ...extra },
    });

  it('requires fromFiscalYear on EnrollmentRenewed (class-validator keeps an inherited @IsOptional)', () => {
    expect(() => parseEvent(Topics.enrollments, enrollmentEvent('EnrollmentRenewed', {}))).toThrow(MalformedMessageError);
    expect(() => parseEvent(Topics.enrollments, enrollmentEvent('EnrollmentRenewed', {}))).toThrow('fromFiscalYear');
    expect(parseEvent(Topics.enrollments, enrollmentEvent('EnrollmentRenewed', { fromFiscalYear: 'FY27' })).known).toBe(true);
  });

  it('takes it as optional on the events a continuation may announce, and checks it where present', () => {
    expect(parseEvent(Topics.enrollments, enrollmentEvent('EnrollmentValidating', { status: 'VALIDATING' })).known).toBe(true);
    expect(parseEvent(Topics.enrollments, enrollmentEvent('EnrollmentActionRequired', { status: 'ACTION_REQUIRED', fromFiscalYear: 'FY27' })).known).toBe(true);
    expect(() => parseEvent(Topics.enrollments, enrollmentEvent('EnrollmentRejected', { status: 'ACTION_REQUIRED', fromFiscalYear: 'last year' }))).toThrow(MalformedMessageError);
  });

  it('checks the decision an EnrollmentIneligible names, where it names one', () => {
    const ineligible = (extra: Record<string, unknown>) => enrollmentEvent('EnrollmentIneligible', { status: 'INELIGIBLE', completed: false, ...extra });
    expect(parseEvent(Topics.enrollments, ineligible({})).known).toBe(true);
    expect(parseEvent(Topics.enrollments, ineligible({ decision: { eventId: 'e-1', decidedAt: '2027-07-01T08:00:00.000Z' } })).known).toBe(true);
    for (const decision of [{ eventId: 'e-1' }, { eventId: 'e-1', decidedAt: 'yesterday' }, { eventId: 'e-1', decidedAt: '2027-07-01T08:00:00' }, { decidedAt: '2027-07-01T08:00:00.000Z' }, 'e-1']) {
      expect(() => parseEvent(Topics.enrollments, ineligible({ decision }))).toThrow(MalformedMessageError);
    }
    expect(() => parseEvent(Topics.enrollments, ineligible({ completed: 'no' }))).toThrow('completed');
  });
});

// Consumers read these as dates (new Date, Date.parse): a malformed one read as an Invalid Date, a tax profile's expiry
// that never comes. Dead-lettered with the field named instead.
describe('parseEvent: the instants events carry', () => {
  const event = (topic: string, type: string, data: Record<string, unknown>) =>
    JSON.stringify({ eventId: '3c1d9e2a-7b4f-4e6a-8d2c-5f9a1b0e7d43', type, version: 1, occurredAt: '2026-07-01T10:00:00Z', source: 'payout-profiles', correlationId: 'c1', data });
  const tax = (expiresAt: unknown) => ({ profileId: 'T1', profileKind: 'TAX', partnerId: 'P1', locationId: 'L1', revision: 1, status: 'APPROVED', reasons: [], expiresAt });
  const expiring = (expiresAt: unknown) => ({ profileId: 'T1', partnerId: 'P1', locationId: 'L1', expiresAt, daysLeft: 10 });

  it.each(['2027-06-30', '2027-06-30T00:00:00.000Z', '2027-06-30T02:00:00+02:00'])('takes %s', (at) => {
    expect(parseEvent(Topics.payoutProfiles, event(Topics.payoutProfiles, 'ProfileApproved', tax(at))).known).toBe(true);
    expect(parseEvent(Topics.payoutProfiles, event(Topics.payoutProfiles, 'TaxProfileExpiring', expiring(at))).known).toBe(true);
  });

  it.each(['soon', '2027-13-01', '2027-06-30T10:00:00', 20270630])('refuses %s, naming the field', (at) => {
    expect(() => parseEvent(Topics.payoutProfiles, event(Topics.payoutProfiles, 'ProfileApproved', tax(at)))).toThrow('expiresAt must be an ISO-8601 date');
    expect(() => parseEvent(Topics.payoutProfiles, event(Topics.payoutProfiles, 'TaxProfileExpiring', expiring(at)))).toThrow('expiresAt must be an ISO-8601 date');
  });

  it("refuses a renewal reminder whose fiscalYearEndsAt is no instant", () => {
    const reminder = (fiscalYearEndsAt: unknown) =>
      event(Topics.enrollments, 'EnrollmentRenewalAtRisk', { enrollmentId: 'E1', programId: 'PR1', partnerId: 'P1', locationId: 'L1', fiscalYear: 'FY27', status: 'ENROLLED', reasons: [], missing: [], revision: 2, fiscalYearEndsAt });
    expect(parseEvent(Topics.enrollments, reminder('2027-07-01T00:00:00.000Z')).known).toBe(true);
    expect(() => parseEvent(Topics.enrollments, reminder('July 1st'))).toThrow('fiscalYearEndsAt must be an ISO-8601 date');
  });
});

describe('parseEvent: a value that is not JSON', () => {
  it('is refused without quoting the value (it may hold a secret, and the reason goes to logs and the dead letter)', () => {
    const value = '{"data":{"reasons":["Account", DE89370400440532013000]}}';
    let error: unknown;
    try {
      parseEvent(Topics.validationResults, value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MalformedMessageError);
    expect((error as Error).message).toMatch(/^value is not JSON/);
    expect((error as Error).message).not.toMatch(/DE89|3704/);
  });
});

describe('parseEvent: a validation result of the back office', () => {
  const result = (data: Record<string, unknown>) =>
    JSON.stringify({
      eventId: '3c1e9a7b-5d2f-4e8a-b6c4-9f0a1d2e3b4c',
      type: 'ProfileValidationCompleted',
      version: 1,
      occurredAt: '2026-07-01T10:00:00Z',
      source: 'payments-back-office',
      correlationId: 'c1',
      partnerId: 'P1',
      data: { profileId: 'B1', profileKind: 'BANK', revision: 1, ...data },
    });

  it('refuses ACTION_REQUIRED without a reason that is not blank, as the contract says (dead-lettered, the partner would be told nothing)', () => {
    // Blank as every reader takes it: nothing visible once control characters are out (a zero-width space, a NUL).
    for (const reasons of [undefined, null, [], ['  '], ['\u200B'], ['\u0000 ', '\u202E']]) {
      expect(() => parseEvent(Topics.validationResults, result({ outcome: 'ACTION_REQUIRED', reasons }))).toThrow('reasons must name at least one reason when the outcome is ACTION_REQUIRED');
    }
    expect(parseEvent(Topics.validationResults, result({ outcome: 'ACTION_REQUIRED', reasons: ['Bank statement missing'] })).known).toBe(true);
    expect(parseEvent(Topics.validationResults, result({ outcome: 'APPROVED' })).known).toBe(true);
    // Optional where the outcome needs none: null there is "no reasons".
    expect(parseEvent(Topics.validationResults, result({ outcome: 'APPROVED', reasons: null })).known).toBe(true);
  });

  it('refuses more than 50 reasons, or one longer than 1,000 characters', () => {
    expect(() => parseEvent(Topics.validationResults, result({ outcome: 'ACTION_REQUIRED', reasons: Array.from({ length: 51 }, (_, i) => `reason ${i}`) }))).toThrow(MalformedMessageError);
    expect(() => parseEvent(Topics.validationResults, result({ outcome: 'ACTION_REQUIRED', reasons: ['x'.repeat(1_001)] }))).toThrow(MalformedMessageError);
    expect(parseEvent(Topics.validationResults, result({ outcome: 'ACTION_REQUIRED', reasons: ['x'.repeat(1_000)] })).known).toBe(true);
  });
});

describe('buildEvent', () => {
  const profile = { profileId: 'b1', profileKind: 'BANK', partnerId: 'P1', revision: 1, status: 'PENDING_VALIDATION', reasons: [], maskedAccount: '****3000' };

  it('builds an event whose payload is its contract', () => {
    expect(buildEvent(Topics.payoutProfiles, { type: 'ProfileCreated', source: 'payout-profiles', data: profile }).data).toEqual(profile);
  });

  it('refuses an envelope naming another partner or location than its payload (consumers would dead-letter it)', () => {
    const data = { programId: 'PR1', locationId: 'L1', partnerId: 'P1', fiscalYear: 'FY27', eligible: true, reasons: [] };
    expect(() => buildEvent(Topics.eligibility, { type: 'EligibilityDetermined', source: 's', data, locationId: 'L2' })).toThrow(/locationId: the envelope names "L2", its data "L1"/);
    expect(buildEvent(Topics.eligibility, { type: 'EligibilityDetermined', source: 's', data, partnerId: 'P1', locationId: 'L1' }).locationId).toBe('L1');
  });

  it('refuses a payload carrying a field its contract does not declare (a secret would go out with it)', () => {
    const leaking = { ...profile, iban: 'DE89370400440532013000' };
    expect(() => buildEvent(Topics.payoutProfiles, { type: 'ProfileCreated', source: 'payout-profiles', data: leaking })).toThrow(
      /Event ProfileCreated breaks its contract: .*iban/,
    );
  });

  // The back office validates the account, not who may use it: a request carries ProfileDetails, not the profile's
  // locations and version (the AsyncAPI document listed them, inherited from ProfileEvent).
  it("refuses a validation request carrying a profile event's locationIds or version", () => {
    const request = { ...profile, detailsPath: '/v1/operator/profiles/b1' };
    expect(buildEvent(Topics.validationRequests, { type: 'ProfileValidationRequested', source: 'payout-profiles', data: request }).data).toEqual(request);
    for (const extra of [{ locationIds: ['L1'] }, { version: 2 }]) {
      expect(() => buildEvent(Topics.validationRequests, { type: 'ProfileValidationRequested', source: 'payout-profiles', data: { ...request, ...extra } })).toThrow(
        /Event ProfileValidationRequested breaks its contract: .*(locationIds|version)/,
      );
    }
    expect(buildEvent(Topics.payoutProfiles, { type: 'ProfileUpdated', source: 'payout-profiles', data: { ...profile, locationIds: ['L1'], version: 2 } }).data).toMatchObject({ version: 2 });
  });
});

// SPEC 3: consumers accept what a later producer may add. Roles, delivery channels and payment methods are lists that
// grow (Partner Center has more roles than these): a value this version does not know is taken as named (stored as it
// came: once upgraded, the consumer's views hold it with no replay) and its rules give it no meaning, not refused as a
// malformed message; dead-lettered, a user's deactivation would be lost with it. A producer may not send one.
describe('parseEvent: values a later version of the producer may add', () => {
  const envelope = (type: string, data: unknown) =>
    Buffer.from(JSON.stringify({ eventId: '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90', type, version: 1, occurredAt: '2026-07-01T10:00:00Z', source: 'test', correlationId: 'c1', partnerId: 'P1', data }));
  const parse = (topic: string, type: string, data: unknown) => parseEvent(topic, envelope(type, data)).envelope.data as Record<string, any>;
  const build = (topic: string, type: string, data: object) => buildEvent(topic, { type, source: 'test', partnerId: 'P1', data });
  const user = (roles: unknown[]) => ({ userId: 'U1', partnerId: 'P1', email: 'a@example.com', displayName: 'A', active: false, revision: 4, roles });
  const invitation = {
    invitationId: 'I1', programId: 'PR1', partnerId: 'P1', locationId: 'L1', fiscalYear: 'FY27',
    recipients: [{ userId: 'U1', email: 'a@example.com' }], channels: ['SMS', 'EMAIL'], getStartedUrl: 'http://localhost/start', requiresEligibility: true,
  };
  const program = {
    programId: 'PR1', name: 'Program', fiscalYear: 'FY27', requiresEligibility: true, state: 'OPEN', revision: 2,
    payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['CRYPTO', 'CHECK'], taxProfileRequired: false },
  };
  const profile = { profileId: 'B1', profileKind: 'BANK', partnerId: 'P1', revision: 1, status: 'PENDING_VALIDATION', reasons: [], currency: 'USD', paymentMethod: 'CRYPTO', locationIds: ['*'] };

  it("takes a user's role this version does not know as named: the user's deactivation and other roles are applied", () => {
    const roles = [{ role: 'REFERRALS_ADMIN', locationIds: ['*'] }, { role: 'INCENTIVES_ADMIN', locationIds: ['L1'] }];
    expect(parse(Topics.identity, 'UserDeactivated', { user: user(roles) }).user).toMatchObject({ active: false, revision: 4, roles });
    expect(parse(Topics.identity, 'RoleAssigned', { user: user(roles), role: 'REFERRALS_ADMIN', locationIds: ['*'] })).toMatchObject({ role: 'REFERRALS_ADMIN' });
  });

  it('takes a delivery channel and payment methods it does not know as named', () => {
    expect(parse(Topics.invitations, 'InvitationIssued', invitation).channels).toEqual(['SMS', 'EMAIL']);
    expect(parse(Topics.programs, 'ProgramUpdated', { program }).program.payoutRules.allowedPaymentMethods).toEqual(['CRYPTO', 'CHECK']);
    expect(parse(Topics.payoutProfiles, 'ProfileCreated', profile).paymentMethod).toBe('CRYPTO');
  });

  it('takes fields it does not know, in the envelope, the payload and its nested objects (SPEC 3: forward compatibility)', () => {
    const later = Buffer.from(
      JSON.stringify({
        eventId: '7f0c6a52-3b7e-4c38-9a51-2f4d5b1e8c90', type: 'ProgramUpdated', version: 1, occurredAt: '2026-07-01T10:00:00Z',
        source: 'test', correlationId: 'c1', tenant: 'eu', schemaHints: { compact: true },
        data: { program: { ...program, region: 'EMEA', payoutRules: { ...program.payoutRules, minimumAmount: 50 } }, changedBy: 'U9' },
      }),
    );
    const { envelope, known } = parseEvent(Topics.programs, later);
    expect(known).toBe(true);
    expect((envelope.data as any).program).toMatchObject({ programId: 'PR1', revision: 2, payoutRules: { allowedCurrencies: ['USD'] } });
    expect(parse(Topics.identity, 'UserUpdated', { user: { ...user([]), locale: 'de-DE' }, reason: 'sync' }).user).toMatchObject({ userId: 'U1', revision: 4 });
    expect(parse(Topics.agreements, 'AgreementStatusChanged', { partnerId: 'P1', active: true, agreementType: 'MPA' })).toMatchObject({ active: true });
  });

  it('still refuses what is not such a name, or a grant without its locations', () => {
    for (const roles of [[{ role: 7, locationIds: ['L1'] }], [{ role: 'REFERRALS_ADMIN' }], [{ role: '', locationIds: ['L1'] }], [{ role: 'incentives admin', locationIds: ['L1'] }]]) {
      expect(() => parse(Topics.identity, 'UserUpdated', { user: user(roles) })).toThrow(MalformedMessageError);
    }
    expect(() => parse(Topics.identity, 'RoleRevoked', { user: user([]), role: 7, locationIds: ['L1'] })).toThrow(MalformedMessageError);
    expect(() => parse(Topics.invitations, 'InvitationIssued', { ...invitation, channels: [1] })).toThrow(MalformedMessageError);
    expect(() => parse(Topics.payoutProfiles, 'ProfileCreated', { ...profile, paymentMethod: 'not a method' })).toThrow(MalformedMessageError);
  });

  it('refuses to publish a value this version does not know: a misspelt role never reaches a consumer', () => {
    expect(() => build(Topics.identity, 'UserUpdated', { user: user([{ role: 'INCENTIVE_ADMIN', locationIds: ['L1'] }]) })).toThrow(/role/);
    expect(() => build(Topics.identity, 'RoleAssigned', { user: user([]), role: 'INCENTIVE_ADMIN', locationIds: ['L1'] })).toThrow(/role/);
    expect(() => build(Topics.invitations, 'InvitationIssued', invitation)).toThrow(/channels/);
    expect(() => build(Topics.programs, 'ProgramUpdated', { program })).toThrow(/allowedPaymentMethods/);
    expect(() => build(Topics.payoutProfiles, 'ProfileCreated', profile)).toThrow(/paymentMethod/);
    // This version's values are published.
    expect(build(Topics.identity, 'UserUpdated', { user: user([{ role: 'INCENTIVES_ADMIN', locationIds: ['L1'] }]) }).data).toMatchObject({ user: { revision: 4 } });
  });
});
