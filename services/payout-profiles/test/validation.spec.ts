/**
 * The validation round trip over the real broker: a profile change publishes a validation request; results from
 * payout-profiles.validation-results.v1 decide the current revision; an out-of-date result is recorded without
 * changing the current one; a duplicated result changes nothing; the operator API records decisions the same way.
 */
import { createEnvelope, deadLetterTopic, DeadLetterHeaders, Envelope, ProfileEvent, ProfileValidationCompleted, ProfileValidationRequested, Topics } from '@lib/contracts';
import { eventually, metricSamples, outboxSettled, ReceivedMessage, TopicWatch } from '@lib/testing';
import { Logger } from '@nestjs/common';
import { getModelToken } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { BankProfile } from '../src/bank-profiles/bank-profile.schema';
import { KEPT_DECIDED_REVISIONS, MAX_UNAPPLIED_REASON_BYTES, MAX_UNAPPLIED_RESULTS } from '../src/validation/usecases/record-validation-result.use-case';
import { call, createWorld, Harness, ibanProfile, ifMatch, inDays, nonUsTaxProfile, operator, startHarness, usProfile, usTaxProfile, VALID, World } from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
let admin: string;
let watch: TopicWatch;

beforeAll(async () => {
  h = await startHarness('validation');
  watch = await h.kafka.watch([Topics.payoutProfiles, Topics.validationRequests, deadLetterTopic(Topics.validationResults)]);
  w = await createWorld(h);
  admin = await w.token('adminOfLocation');
}, 180_000);

afterAll(() => h?.close());

const of = (profileId: string, type: string, revision?: number) => (m: ReceivedMessage<any>) =>
  m.envelope?.type === type && m.envelope.data.profileId === profileId && (revision === undefined || m.envelope.data.revision === revision);

/** Publishes a back-office decision, as the payments back office does (key partnerId). */
async function decide(profileId: string, profileKind: 'BANK' | 'TAX', revision: number, outcome: 'APPROVED' | 'ACTION_REQUIRED', reasons: string[] = [], occurredAt?: Date) {
  const data: ProfileValidationCompleted = { profileId, profileKind, revision, outcome, reasons };
  return h.kafka.publishEvent(Topics.validationResults, w.partnerId, { type: 'ProfileValidationCompleted', data, source: 'payments-back-office', occurredAt });
}

/**
 * Every event the service wrote for these bank profiles is on the watch (outboxSettled): a decision's event waits in the
 * profile's outbox and a relay publishes it later, so "no such event", checked once the profile reads as decided,
 * would pass even with one on its way. Bank profile events are keyed by partner.
 */
function bankEventsSettled(...profileIds: string[]): Promise<void> {
  return outboxSettled({
    collection: h.db.collection('bank_profiles'),
    filter: { _id: { $in: profileIds } },
    kafka: h.kafka,
    watch,
    topic: Topics.payoutProfiles,
    keys: [w.partnerId],
  });
}

/** Validation results counted as keyed otherwise than by their profile's partner (kafka_messages_keyed_otherwise_total). */
async function keyedOtherwise(): Promise<number> {
  return (await metricSamples(h.service, 'kafka_messages_keyed_otherwise_total')).find(({ labels }) => labels.topic === Topics.validationResults)?.value ?? 0;
}

async function profile(path: string) {
  const answer = await call(h, 'GET', path, { token: admin });
  expect(answer.status).toBe(200);
  return answer.body;
}

describe('bank profile', () => {
  let id: string;
  const path = () => `/v1/bank-profiles/${id}`;

  it('a new profile is PENDING_VALIDATION at revision 1: created, submitted, and a validation request without secrets', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() });
    expect(created.status).toBe(201);
    id = created.body.profileId;
    expect(created.body).toMatchObject({ status: 'PENDING_VALIDATION', statusLabel: 'Pending Microsoft validation', revision: 1 });

    const [request] = await watch.waitFor<ProfileValidationRequested>(of(id, 'ProfileValidationRequested', 1));
    expect(request.topic).toBe(Topics.validationRequests);
    expect(request.key).toBe(w.partnerId);
    expect(request.envelope!.data).toEqual({
      profileId: id,
      profileKind: 'BANK',
      partnerId: w.partnerId,
      revision: 1,
      status: 'PENDING_VALIDATION',
      reasons: [],
      name: created.body.name,
      country: 'DE',
      currency: 'EUR',
      paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
      maskedAccount: '****3000',
      detailsPath: `/v1/operator/profiles/${id}`,
    });
    const [createdEvent] = await watch.waitFor(of(id, 'ProfileCreated', 1));
    const [submitted] = await watch.waitFor(of(id, 'ProfileSubmittedForValidation', 1));
    expect([createdEvent.key, submitted.key]).toEqual([w.partnerId, w.partnerId]);
    expect([createdEvent.topic, submitted.topic]).toEqual([Topics.payoutProfiles, Topics.payoutProfiles]);

    // The back office reads the full details where the request points.
    const details = await call(h, 'GET', request.envelope!.data.detailsPath, { headers: operator });
    expect(details.status).toBe(200);
    expect(details.body).toMatchObject({ profileId: id, revision: 1, account: { iban: VALID.iban, bic: 'COBADEFFXXX', maskedAccount: '****3000' } });
  });

  /** When the profile's current revision was made (stored). */
  const revisedAt = async () => (await h.db.collection<{ revisedAt: Date }>('bank_profiles').findOne({ _id: id as never }))!.revisedAt;

  it('an APPROVED result for the current revision approves it, with ProfileApproved dated by the decision', async () => {
    // Decided a while ago, after the revision was made (the service read it late): the event says when it was decided.
    const made = await revisedAt();
    expect(made).toBeInstanceOf(Date);
    const decidedAt = new Date(+made + 1);
    const sent = await decide(id, 'BANK', 1, 'APPROVED', [], decidedAt);
    await eventually(async () => expect(await profile(path())).toMatchObject({ status: 'APPROVED', statusLabel: 'Approved', revision: 1 }));
    const [approved] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileApproved', 1));
    expect(approved.key).toBe(w.partnerId);
    expect(approved.envelope!.data).toMatchObject({ status: 'APPROVED', revision: 1, currency: 'EUR', paymentMethod: 'ELECTRONIC_BANK_TRANSFER' });
    expect(approved.envelope!.causationId).toBe(sent.eventId);
    expect(approved.envelope!.data.decidedAt).toBe(decidedAt.toISOString());
    expect(+new Date(approved.envelope!.occurredAt)).toBeGreaterThan(+decidedAt);
  });

  it('a change of the locations alone keeps the revision decided, its event dated by the same decision', async () => {
    // A consumer that sees this event before ProfileApproved (that one dead-lettered, replayed later) dates the approval
    // by it: by the decision, not by this change.
    const [approved] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileApproved', 1));
    const current = await profile(path());
    const changed = await call(h, 'PATCH', path(), { token: admin, body: { locationIds: [w.L1] }, headers: ifMatch(current.version) });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ revision: 1, status: 'APPROVED', locationIds: [w.L1] });
    const [updated] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileUpdated', 1));
    expect(updated.envelope!.data).toMatchObject({ status: 'APPROVED', revision: 1, locationIds: [w.L1], decidedAt: approved.envelope!.data.decidedAt });
  });

  it('a change is revision 2, pending again, with a new validation request', async () => {
    const current = await profile(path());
    const changed = await call(h, 'PATCH', path(), {
      token: admin,
      body: { beneficiary: { name: 'Contoso Europe GmbH', email: 'eu-payments@contoso.example' } },
      headers: ifMatch(current.version),
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ revision: 2, status: 'PENDING_VALIDATION', reasons: [] });
    expect(changed.headers.get('etag')).toBe(`"${changed.body.version}"`);
    await watch.waitFor(of(id, 'ProfileValidationRequested', 2));
    await watch.waitFor(of(id, 'ProfileUpdated', 2));
    await watch.waitFor(of(id, 'ProfileSubmittedForValidation', 2));
  });

  it('an out-of-date result (revision 1) is recorded in the history but does not change the current revision', async () => {
    await decide(id, 'BANK', 1, 'ACTION_REQUIRED', ['Old bank statement']);
    await eventually(async () =>
      expect((await profile(path())).validationHistory).toContainEqual(
        expect.objectContaining({ revision: 1, outcome: 'ACTION_REQUIRED', effect: 'OUTDATED', source: 'BACK_OFFICE' }),
      ),
    );
    expect(await profile(path())).toMatchObject({ revision: 2, status: 'PENDING_VALIDATION', reasons: [] });
    await bankEventsSettled(id);
    expect(watch.find(of(id, 'ProfileActionRequired'))).toEqual([]);
  });

  it('ACTION_REQUIRED for revision 2 applies with its reasons; duplicates (same event, or same result again) change nothing', async () => {
    // Dated ten minutes ago, before revision 2 was made (a back office's clock behind, or a result re-sent with an old
    // date): the event is dated when the revision was made, never before it.
    const made = await revisedAt();
    const first = await decide(id, 'BANK', 2, 'ACTION_REQUIRED', ['Bank statement missing'], new Date(+made - 10 * 60_000));
    await eventually(async () =>
      expect(await profile(path())).toMatchObject({ status: 'ACTION_REQUIRED', statusLabel: 'Action required', reasons: ['Bank statement missing'] }),
    );
    const [event] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileActionRequired', 2));
    expect(event.envelope!.data).toMatchObject({ status: 'ACTION_REQUIRED', reasons: ['Bank statement missing'], revision: 2, decidedAt: made.toISOString() });
    const before = await profile(path());

    // The same message delivered again, the same decision under a new event id, and a different decision for
    // the already decided revision (the first decision stands).
    await h.kafka.publish(Topics.validationResults, w.partnerId, first);
    await decide(id, 'BANK', 2, 'ACTION_REQUIRED', ['Bank statement missing']);
    await decide(id, 'BANK', 2, 'APPROVED');
    // A marker on the same key (same partition, so processed after them): once it is applied, they were too.
    const marker = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    await decide(marker, 'BANK', 1, 'APPROVED');
    await eventually(async () => expect((await profile(`/v1/bank-profiles/${marker}`)).status).toBe('APPROVED'));

    const after = await profile(path());
    expect(after).toMatchObject({ status: 'ACTION_REQUIRED', reasons: ['Bank statement missing'], revision: 2 });
    expect(after.validationHistory.filter((r: { revision: number }) => r.revision === 2)).toEqual([
      expect.objectContaining({ outcome: 'ACTION_REQUIRED', effect: 'APPLIED' }),
      expect.objectContaining({ outcome: 'APPROVED', effect: 'ALREADY_DECIDED' }),
    ]);
    expect(after.version).toBe(before.version + 1); // only the conflicting decision was recorded
    await bankEventsSettled(id);
    expect(watch.find(of(id, 'ProfileActionRequired'))).toHaveLength(1);
    expect(watch.find(of(id, 'ProfileApproved', 2))).toEqual([]);
  });

  // Revision 1 was approved, then revision 2 came: an operator contradicting revision 1 is refused as on the current one.
  it('the operator API answers 409 for a different decision on an older revision that has its decision, and changes nothing', async () => {
    const before = await h.db.collection('bank_profiles').findOne({ _id: id as never }, { projection: { outbox: 0 } });
    expect(before).toMatchObject({ revision: 2 });
    const late = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['Operator says no'] } });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ effect: 'ALREADY_DECIDED' });
    expect(await h.db.collection('bank_profiles').findOne({ _id: id as never }, { projection: { outbox: 0 } })).toEqual(before);
  });

  it('the operator API answers 409 for a different decision on a decided revision, and a plain repeat is a no-op', async () => {
    const before = await h.db.collection('bank_profiles').findOne({ _id: id as never }, { projection: { outbox: 0 } });
    const conflicting = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 2, outcome: 'APPROVED' } });
    expect(conflicting.status).toBe(409);
    // The back office's APPROVED of revision 2 was recorded (ALREADY_DECIDED) above: this one repeats it.
    expect(conflicting.body).toMatchObject({ status: 409, effect: 'DUPLICATE', profileStatus: 'ACTION_REQUIRED' });
    const otherReasons = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, {
      headers: operator,
      body: { revision: 2, outcome: 'ACTION_REQUIRED', reasons: ['Another reason'] },
    });
    expect(otherReasons.status).toBe(409);
    expect((await profile(path())).reasons).toEqual(['Bank statement missing']);
    // A refused request changes nothing stored: no history entry, no new version (a user's If-Match still holds).
    expect(await h.db.collection('bank_profiles').findOne({ _id: id as never }, { projection: { outbox: 0 } })).toEqual(before);
    const repeat = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, {
      headers: operator,
      body: { revision: 2, outcome: 'ACTION_REQUIRED', reasons: ['Bank statement missing'] },
    });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ effect: 'DUPLICATE', status: 'ACTION_REQUIRED' });
  });

  it('Action required: its locationIds sent alone change nothing; its details sent again submit it again (revision 3, a new validation request)', async () => {
    const current = await profile(path());
    expect(current).toMatchObject({ status: 'ACTION_REQUIRED', revision: 2 });
    const placesOnly = await call(h, 'PATCH', path(), { token: admin, body: { locationIds: current.locationIds }, headers: ifMatch(current.version) });
    expect(placesOnly.status).toBe(200);
    expect(placesOnly.body).toMatchObject({ status: 'ACTION_REQUIRED', revision: 2, version: current.version, reasons: ['Bank statement missing'] });

    const again = await call(h, 'PATCH', path(), {
      token: admin,
      body: { name: current.name, beneficiary: current.beneficiary },
      headers: ifMatch(current.version),
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ revision: 3, status: 'PENDING_VALIDATION', reasons: [], version: current.version + 1, name: current.name });
    await watch.waitFor(of(id, 'ProfileValidationRequested', 3));
    await watch.waitFor(of(id, 'ProfileSubmittedForValidation', 3));
    // The same request again (its If-Match now stale) submits nothing more.
    const retried = await call(h, 'PATCH', path(), { token: admin, body: { name: current.name }, headers: ifMatch(current.version) });
    expect(retried.status).toBe(412);
    // Pending again, the same details are no new revision (as for an approved profile).
    const pending = await call(h, 'PATCH', path(), { token: admin, body: { name: current.name }, headers: ifMatch(again.body.version) });
    expect(pending.body).toMatchObject({ revision: 3, version: again.body.version });
  });

  it('after a fix (revision 4) the operator approves it, with ProfileApproved', async () => {
    const current = await profile(path());
    const fixed = await call(h, 'PATCH', path(), { token: admin, body: { name: `EUR fixed ${randomUUID()}` }, headers: ifMatch(current.version) });
    expect(fixed.body).toMatchObject({ revision: 4, status: 'PENDING_VALIDATION' });
    const decided = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 4, outcome: 'APPROVED' } });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ profileKind: 'BANK', effect: 'APPLIED', revision: 4, status: 'APPROVED' });
    const [approved] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileApproved', 4));
    // An operator decides as it is recorded: no later than the event.
    expect(+new Date(approved.envelope!.data.decidedAt!)).toBeLessThanOrEqual(+new Date(approved.envelope!.occurredAt));
  });
});

describe('a back-office result contradicting a decided revision', () => {
  const metric = async (labels: Record<string, string>) => {
    const text = await (await fetch(`${h.service.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('payout_validation_conflicts_total{') && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  it('ACTION_REQUIRED for a revision an operator APPROVED: recorded, not applied, with a warning and a metric', async () => {
    const labels = { profile_kind: 'BANK', decided: 'APPROVED', outcome: 'ACTION_REQUIRED' };
    const countBefore = await metric(labels);
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() });
      const id = created.body.profileId;
      const approved = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'APPROVED' } });
      expect(approved.body).toMatchObject({ effect: 'APPLIED', status: 'APPROVED' });

      const sent = await decide(id, 'BANK', 1, 'ACTION_REQUIRED', ['Account holder name does not match']);
      await eventually(async () =>
        expect((await profile(`/v1/bank-profiles/${id}`)).validationHistory).toContainEqual(
          expect.objectContaining({ revision: 1, outcome: 'ACTION_REQUIRED', effect: 'ALREADY_DECIDED', source: 'BACK_OFFICE' }),
        ),
      );
      expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'APPROVED', reasons: [] });
      await bankEventsSettled(id);
      expect(watch.find(of(id, 'ProfileActionRequired'))).toEqual([]);
      expect(await metric(labels)).toBe(countBefore + 1);
      const warnings = warn.mock.calls.map(([message]) => String(message)).filter((m) => m.includes(id));
      expect(warnings).toEqual([expect.stringMatching(new RegExp(`revision 1 was decided APPROVED \\(OPERATOR\\).*now says ACTION_REQUIRED \\(event ${sent.eventId}\\)`))]);
    } finally {
      warn.mockRestore();
    }
  });

  it("an approval's note stays in the history: the approved profile has no reasons (they say what to fix)", async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    await decide(id, 'BANK', 1, 'APPROVED', ['Verified by the bank']);
    await eventually(async () => expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'APPROVED', reasons: [] }));
    expect((await profile(`/v1/bank-profiles/${id}`)).validationHistory).toEqual([
      expect.objectContaining({ revision: 1, outcome: 'APPROVED', effect: 'APPLIED', reasons: ['Verified by the bank'] }),
    ]);
    const [approved] = await watch.waitFor(of(id, 'ProfileApproved', 1));
    expect((approved.envelope!.data as { reasons?: string[] }).reasons ?? []).toEqual([]);
  });

  it('the same outcome again with other reasons is no conflict: recorded as CONFIRMED, not applied, no warning, no metric', async () => {
    const labels = { profile_kind: 'BANK', decided: 'APPROVED', outcome: 'APPROVED' };
    const countBefore = await metric(labels);
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
      expect((await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'APPROVED' } })).body).toMatchObject({ effect: 'APPLIED' });
      await decide(id, 'BANK', 1, 'APPROVED', ['Verified by the bank']);
      await eventually(async () =>
        expect((await profile(`/v1/bank-profiles/${id}`)).validationHistory).toContainEqual(
          expect.objectContaining({ revision: 1, outcome: 'APPROVED', effect: 'CONFIRMED', source: 'BACK_OFFICE', reasons: ['Verified by the bank'] }),
        ),
      );
      expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'APPROVED', reasons: [] });
      // The operator's decision published its ProfileApproved, and the back office's confirming one added none.
      await watch.waitFor(of(id, 'ProfileApproved', 1));
      await bankEventsSettled(id);
      expect(watch.find(of(id, 'ProfileApproved', 1))).toHaveLength(1);
      expect(await metric(labels)).toBe(countBefore);
      expect(warn.mock.calls.map(([message]) => String(message)).filter((m) => m.includes(id))).toEqual([]);

      // ACTION_REQUIRED again: some of the reasons given already confirm it; a reason it did not give is a conflict.
      const again = { profile_kind: 'BANK', decided: 'ACTION_REQUIRED', outcome: 'ACTION_REQUIRED' };
      const againBefore = await metric(again);
      const other = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
      await call(h, 'POST', `/v1/operator/profiles/${other}/validation`, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['Statement missing', 'Name differs'] } });
      await decide(other, 'BANK', 1, 'ACTION_REQUIRED', ['Name differs']);
      await decide(other, 'BANK', 1, 'ACTION_REQUIRED', ['Name differs', 'Account closed']);
      await eventually(async () =>
        expect((await profile(`/v1/bank-profiles/${other}`)).validationHistory.map((r: { effect: string; reasons: string[] }) => [r.effect, r.reasons])).toEqual([
          ['APPLIED', ['Statement missing', 'Name differs']],
          ['CONFIRMED', ['Name differs']],
          ['ALREADY_DECIDED', ['Name differs', 'Account closed']],
        ]),
      );
      expect(await metric(again)).toBe(againBefore + 1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('results told apart by their reasons', () => {
  // The duplicate check keyed a result by its reasons joined with "|": one reason "A|B" was the two reasons "A" and "B".
  it('a result whose one reason holds a "|" is not the result with those two reasons: each is recorded', async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const first = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['Name differs|Statement missing'] } });
    expect(first.body).toMatchObject({ effect: 'APPLIED' });
    await decide(id, 'BANK', 1, 'ACTION_REQUIRED', ['Statement missing', 'Name differs']);
    await eventually(async () =>
      expect((await profile(`/v1/bank-profiles/${id}`)).validationHistory.map((r: { effect: string; reasons: string[] }) => [r.effect, r.reasons])).toEqual([
        ['APPLIED', ['Name differs|Statement missing']],
        ['ALREADY_DECIDED', ['Statement missing', 'Name differs']],
      ]),
    );
  });
});

describe('a result recorded with control characters in its reasons (before they were taken out)', () => {
  it('is the same result when sent again without them: DUPLICATE, nothing recorded, no conflict', async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const applied = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['Name differs'] } });
    expect(applied.body).toMatchObject({ effect: 'APPLIED' });
    // As a back office's reason was stored before: with its override, and its key from it.
    await h.db.collection('bank_profiles').updateOne({ _id: id as never }, { $set: { 'validationHistory.0.reasons': ['\u202eName differs'], decisionKeys: [] } } as never);
    const again = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['Name differs'] } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ effect: 'DUPLICATE' });
    expect((await profile(`/v1/bank-profiles/${id}`)).validationHistory).toHaveLength(1);
  });
});

describe('results that do not apply, repeated without end', () => {
  // 50 reasons of 1,000 characters, in Japanese: 150 KB a result; 100 of them would pass MongoDB's 16 MB.
  it(`are stored up to ${MAX_UNAPPLIED_REASON_BYTES} bytes of reasons per profile, then logged only; each key a digest, not the reasons again`, async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
      expect((await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'APPROVED' } })).body).toMatchObject({ effect: 'APPLIED' });
      const long = (n: number) => Array.from({ length: 50 }, (_, i) => `${n}-${i} ${'口座名義が一致しません'.repeat(90)}`);
      const stored = async () => (await h.db.collection('bank_profiles').findOne({ _id: id as never }))!;
      // Seven such results fit in 1 MiB (149 KB each); the eighth does not.
      for (let n = 1; n <= 8; n++) await decide(id, 'BANK', 1, 'APPROVED', long(n));
      await eventually(async () => expect(warn.mock.calls.map(([m]) => String(m)).filter((m) => m.includes(`profile ${id}`) && m.includes('bytes of reasons'))).toHaveLength(1));
      const doc = await stored();
      const unapplied = (doc.validationHistory as Array<{ effect: string; reasons: string[] }>).filter((r) => r.effect !== 'APPLIED');
      expect(unapplied.map((r) => r.reasons[0].split(' ')[0])).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0', '6-0', '7-0']);
      expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThan(MAX_UNAPPLIED_REASON_BYTES + 64 * 1024);
      expect(Math.max(...(doc.decisionKeys as string[]).map((key) => key.length))).toBeLessThan(100);
      // A short one still fits beside them.
      await decide(id, 'BANK', 1, 'APPROVED', ['Verified by phone']);
      await eventually(async () => expect(((await stored()).validationHistory as Array<{ reasons: string[] }>).map((r) => r.reasons[0])).toContain('Verified by phone'));
    } finally {
      warn.mockRestore();
    }
  });

  it(`are stored up to ${MAX_UNAPPLIED_RESULTS} per profile, then logged only; decisions that apply are still stored`, async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
      expect((await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'APPROVED' } })).body).toMatchObject({ effect: 'APPLIED' });
      // As if the back office had confirmed it 99 times already.
      const seeded = Array.from({ length: MAX_UNAPPLIED_RESULTS - 1 }, (_, i) => ({ revision: 1, outcome: 'APPROVED', reasons: [`note ${i}`], source: 'BACK_OFFICE', effect: 'CONFIRMED', receivedAt: new Date() }));
      await h.db.collection('bank_profiles').updateOne({ _id: id as never }, { $push: { validationHistory: { $each: seeded } } } as never);
      const history = async () => (await profile(`/v1/bank-profiles/${id}`)).validationHistory as Array<{ revision: number; effect: string; reasons: string[] }>;

      await decide(id, 'BANK', 1, 'APPROVED', ['the hundredth']);
      await eventually(async () => expect((await history()).map((r) => r.reasons[0])).toContain('the hundredth'));
      const over = await decide(id, 'BANK', 1, 'APPROVED', ['one too many']);
      await eventually(async () => expect(warn.mock.calls.map(([m]) => String(m)).filter((m) => m.includes(over.eventId))).toEqual([expect.stringContaining(`not recorded: the profile already holds ${MAX_UNAPPLIED_RESULTS} results that did not apply`)]));
      expect(await history()).toHaveLength(MAX_UNAPPLIED_RESULTS + 1);
      // A conflicting one past the cap is not stored either, and is still reported as a conflict.
      const conflicting = await decide(id, 'BANK', 1, 'ACTION_REQUIRED', ['Name differs']);
      await eventually(async () => expect(warn.mock.calls.map(([m]) => String(m)).filter((m) => m.includes(conflicting.eventId))).toEqual([
        expect.stringContaining('not recorded'),
        expect.stringContaining('Conflicting validation result'),
      ]));
      expect(await history()).toHaveLength(MAX_UNAPPLIED_RESULTS + 1);

      // A change is revision 2: its decision applies and is stored.
      const changed = await call(h, 'PATCH', `/v1/bank-profiles/${id}`, { token: admin, body: { name: `Renamed ${id}` }, headers: { 'if-match': `"${(await profile(`/v1/bank-profiles/${id}`)).version}"` } });
      expect(changed.status).toBe(200);
      expect((await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 2, outcome: 'APPROVED' } })).body).toMatchObject({ effect: 'APPLIED', status: 'APPROVED' });
      expect((await history()).filter((r) => r.effect === 'APPLIED').map((r) => r.revision)).toEqual([1, 2]);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('decisions of revisions long decided', () => {
  it(`go from the history once a decision ${KEPT_DECIDED_REVISIONS} revisions on applies; the current revision's stay, and its decision still counts`, async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    // As if the partner had submitted it again 29 times, each sent back with long reasons.
    const decided = Array.from({ length: 29 }, (_, i) => ({ revision: i + 1, outcome: 'ACTION_REQUIRED', reasons: [`r${i + 1} ${'x'.repeat(900)}`], source: 'BACK_OFFICE', effect: 'APPLIED', receivedAt: new Date() }));
    await h.db.collection('bank_profiles').updateOne({ _id: id as never }, { $set: { revision: 30, validationHistory: decided } } as never);
    const history = async () => (await profile(`/v1/bank-profiles/${id}`)).validationHistory as Array<{ revision: number; effect: string }>;

    expect((await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 30, outcome: 'APPROVED' } })).body).toMatchObject({ effect: 'APPLIED', status: 'APPROVED' });
    const kept = Array.from({ length: KEPT_DECIDED_REVISIONS }, (_, i) => 30 - KEPT_DECIDED_REVISIONS + 1 + i);
    expect((await history()).map((r) => r.revision)).toEqual(kept);
    // Its decision is still what a later result is checked against: another outcome for revision 30 is refused.
    expect((await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 30, outcome: 'ACTION_REQUIRED', reasons: ['late'] } })).status).toBe(409);
    // A result of a revision let go is recorded as out of date, as any older revision's.
    await decide(id, 'BANK', 3, 'APPROVED', ['late for 3']);
    await eventually(async () => expect((await history()).slice(-1)).toEqual([expect.objectContaining({ revision: 3, effect: 'OUTDATED' })]));
    expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'APPROVED', revision: 30 });
  });
});

describe('secrets quoted in reasons', () => {
  it('a back-office reason quoting the IBAN is stored, answered and published with the IBAN masked', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() });
    const id = created.body.profileId;
    await decide(id, 'BANK', 1, 'ACTION_REQUIRED', [
      'IBAN DE89 3704 0044 0532 0130 00 does not match the bank statement',
      'Account de89370400440532013000 is closed',
      'Previous account 000987654321 was closed too',
    ]);
    const masked = ['IBAN ****3000 does not match the bank statement', 'Account ****3000 is closed', 'Previous account ****4321 was closed too'];
    const [event] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileActionRequired', 1));
    expect(event.envelope!.data.reasons).toEqual(masked);
    const answer = await profile(`/v1/bank-profiles/${id}`);
    expect(answer).toMatchObject({ status: 'ACTION_REQUIRED', reasons: masked });
    expect(answer.validationHistory).toEqual([expect.objectContaining({ reasons: masked, effect: 'APPLIED' })]);
    const stored = JSON.stringify(await h.db.collection('bank_profiles').findOne({ _id: id as never }));
    for (const clear of [VALID.iban, '3704 0044 0532', '370400440532013000', '000987654321']) {
      expect([event.raw.toUpperCase().includes(clear) ? `event has ${clear}` : 'clean', stored.toUpperCase().includes(clear) ? `stored has ${clear}` : 'clean']).toEqual([
        'clean',
        'clean',
      ]);
    }
  });

  it('a reason stored in clear before reasons were masked is answered masked (status and history), as its events carry it', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() });
    const id = created.body.profileId;
    await decide(id, 'BANK', 1, 'ACTION_REQUIRED', ['Account closed']);
    await watch.waitFor<ProfileEvent>(of(id, 'ProfileActionRequired', 1));
    const old = 'IBAN DE89 3704 0044 0532 0130 00 does not match';
    await h.db.collection('bank_profiles').updateOne({ _id: id as never }, { $set: { reasons: [old], 'validationHistory.0.reasons': [old] } });
    const answer = await profile(`/v1/bank-profiles/${id}`);
    expect(answer.reasons).toEqual(['IBAN ****3000 does not match']);
    expect(answer.validationHistory).toEqual([expect.objectContaining({ reasons: ['IBAN ****3000 does not match'] })]);
    const listed = await call(h, 'GET', '/v1/bank-profiles?limit=200', { token: admin });
    expect(JSON.stringify(listed.body)).not.toContain('3704 0044');
    // The operator's answer to a decision recorded on it too.
    const decided = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['Account closed'] } });
    expect(decided.status).toBe(200);
    expect(decided.body.reasons).toEqual(['IBAN ****3000 does not match']);
  });

  // Masking reads the digits of every script as ASCII's: reasons recorded before kept their own, and a copy of such a
  // result, sent again, was no longer told from a new one (a conflict).
  it('a result recorded before digits of other scripts were read as ASCII digits, sent again, is a duplicate', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() });
    const id = created.body.profileId;
    const body = { revision: 1, outcome: 'ACTION_REQUIRED', reasons: [`Ref ٧٧ IBAN ${VALID.iban} closed`] };
    const first = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body });
    expect(first.body).toMatchObject({ effect: 'APPLIED', reasons: ['Ref 77 IBAN ****3000 closed'] });
    // As an earlier release recorded it: its digits as sent, and no key of the reasons as masked now.
    const earlier = ['Ref ٧٧ IBAN ****3000 closed'];
    await h.db.collection('bank_profiles').updateOne({ _id: id as never }, { $set: { reasons: earlier, 'validationHistory.0.reasons': earlier, decisionKeys: [] } });
    const again = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ effect: 'DUPLICATE' });
    expect((await profile(`/v1/bank-profiles/${id}`)).validationHistory).toHaveLength(1);
  });

  // A result is masked with the profile's secrets as they are when it is handled: redelivered after the account was
  // replaced, the same text masks differently, and its reasons no longer told it from a new result.
  it('the same event delivered again after the account it quotes was replaced is a duplicate: nothing recorded, nothing in clear', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile({ account: { accountNumber: '123456789', routingNumber: VALID.routing, accountType: 'CHECKING' } }) });
    const id = created.body.profileId;
    const data: ProfileValidationCompleted = { profileId: id, profileKind: 'BANK', revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['The account ending 56789 is closed'] };
    const result = createEnvelope({ type: 'ProfileValidationCompleted', source: 'payments-back-office', partnerId: w.partnerId, data });
    await h.kafka.publish(Topics.validationResults, w.partnerId, result);
    await watch.waitFor(of(id, 'ProfileActionRequired', 1));
    const decided = await profile(`/v1/bank-profiles/${id}`);
    expect(decided.validationHistory).toEqual([expect.objectContaining({ revision: 1, effect: 'APPLIED', reasons: ['The account ending ******** is closed'] })]);
    const edited = await call(h, 'PATCH', `/v1/bank-profiles/${id}`, {
      token: admin,
      body: { account: { accountNumber: '000111222333', routingNumber: VALID.routing, accountType: 'CHECKING' } },
      headers: ifMatch(decided.version),
    });
    expect(edited.body).toMatchObject({ revision: 2, status: 'PENDING_VALIDATION' });

    // Redelivered, the service having crashed between recording it and its ledger entry (which skips a copy).
    const ledger = h.db.collection('processed_events');
    const entry = { _id: { $regex: `:${result.eventId}$` } } as never;
    await eventually(async () => expect(await ledger.countDocuments(entry)).toBe(1));
    await ledger.deleteMany(entry);
    await h.kafka.publish(Topics.validationResults, w.partnerId, result);
    await decide(id, 'BANK', 2, 'APPROVED'); // after it on the same partition: handled once this one is
    await watch.waitFor(of(id, 'ProfileApproved', 2));
    const answer = await profile(`/v1/bank-profiles/${id}`);
    expect(answer.version).toBe(edited.body.version + 1); // the approval's write alone
    expect(answer.validationHistory.map((r: { revision: number; effect: string }) => `${r.revision} ${r.effect}`)).toEqual(['1 APPLIED', '2 APPLIED']);
    expect(JSON.stringify(await h.db.collection('bank_profiles').findOne({ _id: id as never }))).not.toContain('56789');
  });

  it.each([
    ['quotes part of', 'acct 12345678 closed', 'acct ******** closed'],
    ['quotes no part of (a long number that is no secret)', 'reference 99887766 rejected', 'reference ****7766 rejected'],
  ])('the same result sent again under another event id after the account it %s was replaced is a duplicate: nothing recorded, no more of it in clear', async (_, reason, stored) => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile({ account: { accountNumber: '000123456789', routingNumber: VALID.routing, accountType: 'CHECKING' } }) });
    const id = created.body.profileId;
    const data: ProfileValidationCompleted = { profileId: id, profileKind: 'BANK', revision: 1, outcome: 'ACTION_REQUIRED', reasons: [reason] };
    await h.kafka.publish(Topics.validationResults, w.partnerId, createEnvelope({ type: 'ProfileValidationCompleted', source: 'payments-back-office', partnerId: w.partnerId, data }));
    await watch.waitFor(of(id, 'ProfileActionRequired', 1));
    const decided = await profile(`/v1/bank-profiles/${id}`);
    expect(decided.validationHistory).toEqual([expect.objectContaining({ revision: 1, effect: 'APPLIED', reasons: [stored] })]);
    const edited = await call(h, 'PATCH', `/v1/bank-profiles/${id}`, {
      token: admin,
      body: { account: { accountNumber: '000111222333', routingNumber: VALID.routing, accountType: 'CHECKING' } },
      headers: ifMatch(decided.version),
    });
    expect(edited.body).toMatchObject({ revision: 2, status: 'PENDING_VALIDATION' });

    // The back office sends it again, as a new event (its key-based deduplication is for exactly this).
    await h.kafka.publish(Topics.validationResults, w.partnerId, createEnvelope({ type: 'ProfileValidationCompleted', source: 'payments-back-office', partnerId: w.partnerId, data }));
    await decide(id, 'BANK', 2, 'APPROVED'); // after it on the same partition: handled once this one is
    await watch.waitFor(of(id, 'ProfileApproved', 2));
    const answer = await profile(`/v1/bank-profiles/${id}`);
    expect(answer.version).toBe(edited.body.version + 1); // the approval's write alone
    expect(answer.validationHistory.map((r: { revision: number; effect: string }) => `${r.revision} ${r.effect}`)).toEqual(['1 APPLIED', '2 APPLIED']);
    expect(JSON.stringify(await h.db.collection('bank_profiles').findOne({ _id: id as never }))).not.toMatch(/5678|1234/);
  });

  it("a late result for an older revision quoting that revision's short account number (or a replaced TIN) is stored and answered masked", async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile({ account: { accountNumber: '7654321', routingNumber: VALID.routing, accountType: 'CHECKING' } }) });
    const id = created.body.profileId;
    const edited = await call(h, 'PATCH', `/v1/bank-profiles/${id}`, {
      token: admin,
      body: { account: { accountNumber: '000111222333', routingNumber: VALID.routing, accountType: 'CHECKING' } },
      headers: ifMatch(created.body.version),
    });
    expect(edited.body).toMatchObject({ revision: 2 });
    const late = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, {
      headers: operator,
      body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['Account 7654-321 is closed, and 7654321 was never opened'] },
    });
    expect(late.body).toMatchObject({ effect: 'OUTDATED' });
    const history = (await profile(`/v1/bank-profiles/${id}`)).validationHistory;
    expect(history).toEqual([expect.objectContaining({ revision: 1, effect: 'OUTDATED', reasons: ['Account ******** is closed, and ******** was never opened'] })]);
    expect(JSON.stringify(await h.db.collection('bank_profiles').findOne({ _id: id as never }))).not.toContain('7654321');

    // L2's admin (a location no other test here gives a tax profile).
    const other = await w.token('adminOfOtherLocation');
    const tax = await call(h, 'POST', `/v1/locations/${w.L2}/tax-profile`, { token: other, body: nonUsTaxProfile({ taxId: 'AB12' }) });
    expect(tax.status).toBe(201);
    const replaced = await call(h, 'PATCH', `/v1/locations/${w.L2}/tax-profile`, { token: other, body: { taxId: 'ZZ9988776655' }, headers: ifMatch(tax.body.version) });
    expect(replaced.body).toMatchObject({ revision: 2 });
    const lateTax = await call(h, 'POST', `/v1/operator/profiles/${tax.body.profileId}/validation`, {
      headers: operator,
      body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['TIN ab12 is not registered'] },
    });
    expect(lateTax.body).toMatchObject({ effect: 'OUTDATED' });
    expect((await call(h, 'GET', `/v1/locations/${w.L2}/tax-profile`, { token: other })).body.validationHistory).toEqual([
      expect.objectContaining({ revision: 1, effect: 'OUTDATED', reasons: ['TIN ******** is not registered'] }),
    ]);
  });

  it("an operator's reason quoting the tax ids is answered masked, and the same decision sent again is a duplicate", async () => {
    const created = await call(h, 'POST', `/v1/locations/${w.L3}/tax-profile`, { token: admin, body: nonUsTaxProfile({ taxId: 'FTIN-5551-2345' }) });
    expect(created.status).toBe(201);
    const id = created.body.profileId;
    const body = { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['TIN FTIN55512345 and VAT de 123 456 789 belong to another company'] };
    const decided = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ effect: 'APPLIED', reasons: ['TIN ****2345 and VAT ****6789 belong to another company'] });
    const again = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body });
    expect(again.body).toMatchObject({ effect: 'DUPLICATE', version: decided.body.version });
    const [event] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileActionRequired', 1));
    expect(event.envelope!.data.reasons).toEqual(['TIN ****2345 and VAT ****6789 belong to another company']);
  });
});

describe('tax profile', () => {
  it('round trip: request keyed by partner, lifecycle events keyed by location, carrying location, status, revision, expiry', async () => {
    const body = usTaxProfile();
    const created = await call(h, 'POST', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body });
    expect(created.status).toBe(201);
    const id = created.body.profileId;

    const [request] = await watch.waitFor<ProfileValidationRequested>(of(id, 'ProfileValidationRequested', 1));
    expect(request.key).toBe(w.partnerId);
    expect(request.envelope!.data).toMatchObject({ profileKind: 'TAX', locationId: w.L1, expiresAt: body.expiresAt, detailsPath: `/v1/operator/profiles/${id}` });
    const [createdEvent] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileCreated', 1));
    expect(createdEvent.key).toBe(w.L1);
    expect(createdEvent.envelope).toMatchObject({ partnerId: w.partnerId, locationId: w.L1 });
    expect(createdEvent.envelope!.data).toMatchObject({ locationId: w.L1, status: 'PENDING_VALIDATION', revision: 1, expiresAt: body.expiresAt });

    await decide(id, 'TAX', 1, 'APPROVED');
    await eventually(async () => expect((await profile(`/v1/locations/${w.L1}/tax-profile`)).status).toBe('APPROVED'));
    const [approved] = await watch.waitFor<ProfileEvent>(of(id, 'ProfileApproved', 1));
    expect(approved.key).toBe(w.L1);

    const details = await call(h, 'GET', `/v1/operator/profiles/${id}`, { headers: operator });
    expect(details.body).toMatchObject({ profileKind: 'TAX', taxId: '123456789', maskedTaxId: '****6789' });
  });

  it('the same details sent again: nothing while approved; a new revision, validated anew, once Action required', async () => {
    const path = `/v1/locations/${w.L1}/tax-profile`;
    const approved = await profile(path);
    expect(approved).toMatchObject({ status: 'APPROVED', revision: 1 });
    const same = { expiresAt: approved.expiresAt, businessProfile: approved.businessProfile };
    const unchanged = await call(h, 'PATCH', path, { token: admin, body: same, headers: ifMatch(approved.version) });
    expect(unchanged.body).toMatchObject({ status: 'APPROVED', revision: 1, version: approved.version });

    const changed = await call(h, 'PATCH', path, { token: admin, body: { expiresAt: inDays(300) }, headers: ifMatch(approved.version) });
    expect(changed.body).toMatchObject({ status: 'PENDING_VALIDATION', revision: 2 });
    const id = changed.body.profileId;
    await decide(id, 'TAX', 2, 'ACTION_REQUIRED', ['W-9 unreadable']);
    await eventually(async () => expect(await profile(path)).toMatchObject({ status: 'ACTION_REQUIRED', reasons: ['W-9 unreadable'] }));

    const current = await profile(path);
    const again = await call(h, 'PATCH', path, { token: admin, body: { expiresAt: current.expiresAt }, headers: ifMatch(current.version) });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'PENDING_VALIDATION', revision: 3, reasons: [], expiresAt: current.expiresAt, maskedTaxId: '****6789' });
    const [request] = await watch.waitFor<ProfileValidationRequested>(of(id, 'ProfileValidationRequested', 3));
    expect(request.envelope!.data).toMatchObject({ profileKind: 'TAX', expiresAt: current.expiresAt });

    // Sent back again while its expiry date has passed meanwhile: the same details would make a revision that has
    // expired, so they are refused (400 on expiresAt, nothing stored changes); a new date submits it.
    await decide(id, 'TAX', 3, 'ACTION_REQUIRED', ['W-9 unreadable']);
    await eventually(async () => expect(await profile(path)).toMatchObject({ status: 'ACTION_REQUIRED', revision: 3 }));
    await h.db.collection('tax_profiles').updateOne({ _id: id as never }, { $set: { expiresAt: new Date(Date.now() - 86_400_000) } });
    const before = await h.db.collection('tax_profiles').findOne({ _id: id as never }, { projection: { outbox: 0 } });
    const expired = await call(h, 'PATCH', path, { token: admin, body: { businessProfile: current.businessProfile }, headers: ifMatch(before!.version) });
    expect(expired.status).toBe(400);
    expect(expired.body.errors).toEqual([expect.objectContaining({ field: 'expiresAt' })]);
    expect(await h.db.collection('tax_profiles').findOne({ _id: id as never }, { projection: { outbox: 0 } })).toEqual(before);
    const renewed = await call(h, 'PATCH', path, { token: admin, body: { expiresAt: inDays(200) }, headers: ifMatch(before!.version) });
    expect(renewed.body).toMatchObject({ status: 'PENDING_VALIDATION', revision: 4 });
  });

  // The tax id is shown masked (****6789): an answer that differed when a tax id sent is the stored one (no change, or
  // no expiry check) would tell an editor whether a guess was the id, one PATCH a guess.
  it('a tax id sent is a new revision whether or not it is the stored one; on an expired form, refused alike', async () => {
    const path = `/v1/locations/${w.L1}/tax-profile`;
    const sent = async (taxId: string) => {
      const before = await profile(path);
      const answer = await call(h, 'PATCH', path, { token: admin, body: { taxId }, headers: ifMatch(before.version) });
      return { status: answer.status, revisions: (answer.body.revision ?? before.revision) - before.revision, fields: answer.body.errors?.map((e: { field: string }) => e.field) };
    };
    const stored = (await profile(path)).maskedTaxId;
    expect(stored).toBe('****6789');
    const again = await sent('12-3456789');
    expect(again).toEqual({ status: 200, revisions: 1, fields: undefined });
    expect(await sent('98-7656789')).toEqual(again);
    expect(await sent('98-7656789')).toEqual(again);

    const { profileId } = await profile(path);
    await h.db.collection('tax_profiles').updateOne({ _id: profileId as never }, { $set: { expiresAt: new Date(Date.now() - 86_400_000) } });
    const refused = { status: 400, revisions: 0, fields: ['expiresAt'] };
    expect(await sent('98-7656789')).toEqual(refused);
    expect(await sent('12-3456789')).toEqual(refused);
    await h.db.collection('tax_profiles').updateOne({ _id: profileId as never }, { $set: { expiresAt: new Date(Date.now() + 200 * 86_400_000) } });
  });
});

describe('results that can never apply', () => {
  it('are dead-lettered by this service with the reason in their headers: an unknown profile, a revision that never existed, a malformed result', async () => {
    const unknownId = randomUUID();
    const unknown = await decide(unknownId, 'BANK', 1, 'APPROVED');
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() });
    const future = await decide(created.body.profileId, 'BANK', 5, 'APPROVED');
    const malformed: Envelope = createEnvelope({
      type: 'ProfileValidationCompleted',
      source: 'payments-back-office',
      data: { profileId: created.body.profileId, profileKind: 'BANK', revision: 1, outcome: 'MAYBE' },
    });
    await h.kafka.publish(Topics.validationResults, w.partnerId, malformed);

    const group = h.service.env.KAFKA_GROUP_ID;
    const reasons: string[] = [];
    for (const eventId of [unknown.eventId, future.eventId, malformed.eventId]) {
      const [dead] = await watch.waitFor((m) => m.envelope?.eventId === eventId && m.headers[DeadLetterHeaders.consumerGroup] === group);
      expect(dead.topic).toBe(deadLetterTopic(Topics.validationResults));
      reasons.push(dead.headers[DeadLetterHeaders.error]);
    }
    // The problem's own words, not the exception's class title ("Problem Exception", "Validation Problem").
    expect(reasons[0]).toContain(`Bank profile ${unknownId} was not found`);
    expect(reasons[1]).toContain(`revision: profile ${created.body.profileId} has no revision 5 (current: 1)`);
    expect(reasons[2]).toMatch(/outcome/);
    for (const reason of reasons) expect(reason).not.toMatch(/Problem Exception|Validation Problem/);
    expect((await profile(`/v1/bank-profiles/${created.body.profileId}`))).toMatchObject({ status: 'PENDING_VALIDATION', validationHistory: [] });
  });

  it('one whose envelope names another partner than the profile`s is dead-lettered saying so; nothing is recorded', async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const other = `partner-${randomUUID().slice(0, 8)}`;
    const data: ProfileValidationCompleted = { profileId: id, profileKind: 'BANK', revision: 1, outcome: 'APPROVED', reasons: [] };
    const sent = await h.kafka.publishEvent(Topics.validationResults, other, { type: 'ProfileValidationCompleted', data, source: 'payments-back-office', partnerId: other });
    const group = h.service.env.KAFKA_GROUP_ID;
    const [dead] = await watch.waitFor((m) => m.envelope?.eventId === sent.eventId && m.headers[DeadLetterHeaders.consumerGroup] === group);
    expect(dead.headers[DeadLetterHeaders.error]).toContain(`partnerId: names another partner than profile ${id}'s: the result is not applied`);
    expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'PENDING_VALIDATION', validationHistory: [] });
    // Naming the profile's own partner, it applies.
    await h.kafka.publishEvent(Topics.validationResults, w.partnerId, { type: 'ProfileValidationCompleted', data, source: 'payments-back-office', partnerId: w.partnerId });
    await eventually(async () => expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'APPROVED' }), 30_000);
  });

  it('one whose envelope has partnerId null or empty (a serializer writing an unset field) names no partner, and applies', async () => {
    const before = await keyedOtherwise();
    for (const partnerId of [null, '']) {
      const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
      const data: ProfileValidationCompleted = { profileId: id, profileKind: 'BANK', revision: 1, outcome: 'APPROVED', reasons: [] };
      const envelope = { ...createEnvelope({ type: 'ProfileValidationCompleted', source: 'payments-back-office', data }), partnerId };
      await h.kafka.publish(Topics.validationResults, w.partnerId, envelope);
      await eventually(async () => expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'APPROVED' }), 30_000);
    }
    // Keyed by the profile's partner, as the contract says: not counted as keyed otherwise.
    expect(await keyedOtherwise()).toBe(before);
  });

  it("one naming the profile upper-cased (a back office's uniqueidentifier) applies to that profile", async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const data: ProfileValidationCompleted = { profileId: id.toUpperCase(), profileKind: 'BANK', revision: 1, outcome: 'APPROVED', reasons: [] };
    const envelope = { ...createEnvelope({ type: 'ProfileValidationCompleted', source: 'payments-back-office', data }), partnerId: w.partnerId };
    await h.kafka.publish(Topics.validationResults, w.partnerId, envelope);
    await eventually(async () => expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'APPROVED' }), 30_000);
    // The same over HTTP (the back office's other way in): the profile, answered by its id as stored.
    const other = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const answer = await call(h, 'POST', `/v1/operator/profiles/${other.toUpperCase()}/validation`, { headers: operator, body: { revision: 1, outcome: 'APPROVED' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ profileId: other, profileKind: 'BANK', status: 'APPROVED' });
    // Its details too, where the back office reads the account it checks.
    const details = await call(h, 'GET', `/v1/operator/profiles/${other.toUpperCase()}`, { headers: operator });
    expect(details.status).toBe(200);
    expect(details.body).toMatchObject({ profileId: other, profileKind: 'BANK' });
  });

  it('ACTION_REQUIRED without a reason (or only blank ones) is dead-lettered: the partner would be told nothing to fix', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() });
    const id = created.body.profileId;
    const group = h.service.env.KAFKA_GROUP_ID;
    for (const reasons of [[], ['  ']]) {
      const sent = await decide(id, 'BANK', 1, 'ACTION_REQUIRED', reasons);
      const [dead] = await watch.waitFor((m) => m.envelope?.eventId === sent.eventId && m.headers[DeadLetterHeaders.consumerGroup] === group);
      expect(dead.headers[DeadLetterHeaders.error]).toContain('reasons must name at least one reason when the outcome is ACTION_REQUIRED');
    }
    expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'PENDING_VALIDATION', reasons: [], validationHistory: [] });
    expect(watch.find(of(id, 'ProfileActionRequired'))).toEqual([]);
  });

  it('more than 50 reasons, or one longer than 1,000 characters, is dead-lettered saying so; nothing is recorded', async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const group = h.service.env.KAFKA_GROUP_ID;
    for (const [reasons, says] of [
      [Array.from({ length: 51 }, (_, i) => `Reason ${i}`), 'reasons must be at most 50 reasons'],
      [['x'.repeat(1_001)], 'each reason must be at most 1000 characters'],
    ] as const) {
      const sent = await decide(id, 'BANK', 1, 'ACTION_REQUIRED', [...reasons]);
      const [dead] = await watch.waitFor((m) => m.envelope?.eventId === sent.eventId && m.headers[DeadLetterHeaders.consumerGroup] === group);
      expect(dead.headers[DeadLetterHeaders.error]).toContain(says);
    }
    expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'PENDING_VALIDATION', validationHistory: [] });
  });

  it("the operator API takes the same bounds as a back-office result: 50 reasons of 1,000 characters apply; more is 400, nothing recorded", async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const path = `/v1/operator/profiles/${id}/validation`;
    for (const reasons of [Array.from({ length: 51 }, (_, i) => `Reason ${i}`), ['x'.repeat(1_001)]]) {
      const refused = await call(h, 'POST', path, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons } });
      expect(refused.status).toBe(400);
    }
    expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'PENDING_VALIDATION', validationHistory: [] });
    // Characters as the contract counts them (AsyncAPI maxLength): an emoji is one, though two UTF-16 units.
    const reasons = [...Array.from({ length: 48 }, (_, i) => `Reason ${i}`), 'y'.repeat(1_000), '\u{1F600}'.repeat(600)];
    const decided = await call(h, 'POST', path, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons } });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ effect: 'APPLIED', reasons });
  });

  it('a reason that masking makes longer (read NFKC-normalized: one U+FDFA is 18 characters) is kept to 1,000 characters, cut with an ellipsis', async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const decided = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['\uFDFA'.repeat(1_000)] } });
    expect(decided.status).toBe(200);
    const [reason] = decided.body.reasons as string[];
    expect(Array.from(reason)).toHaveLength(1_000);
    expect(reason).toBe(`${Array.from('\uFDFA'.repeat(1_000).normalize('NFKC')).slice(0, 999).join('')}\u2026`);
    const stored = await h.db.collection('bank_profiles').findOne({ _id: id as never });
    expect(stored!.reasons).toEqual([reason]);
  });
});

describe('a validation decision on a profile that keeps changing under it', () => {
  it('an operator\'s answers 409 busy (try again) after its retries, changes nothing, and the same request sent again is recorded', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() });
    const id = created.body.profileId;
    const model = h.service.app.get<Model<BankProfile>>(getModelToken(BankProfile.name), { strict: false });
    const write = model.updateOne.bind(model) as (...args: unknown[]) => unknown;
    // Every guarded write of the decision (its filter names the version read) finds the profile changed meanwhile.
    const spy = jest.spyOn(model, 'updateOne').mockImplementation(((filter: Record<string, unknown>, ...rest: unknown[]) =>
      filter && 'decisionKeys' in filter ? Promise.resolve({ acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null }) : write(filter, ...rest)) as never);
    const before = await h.db.collection('bank_profiles').findOne({ _id: id as never }, { projection: { outbox: 0 } });
    try {
      const busy = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'APPROVED' } });
      expect(busy.status).toBe(409);
      expect(busy.headers.get('content-type')).toContain('application/problem+json');
      expect(busy.body).toMatchObject({ type: expect.stringMatching(/\/busy$/), detail: expect.stringContaining('try again') });
    } finally {
      spy.mockRestore();
    }
    expect(await h.db.collection('bank_profiles').findOne({ _id: id as never }, { projection: { outbox: 0 } })).toEqual(before);
    const again = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'APPROVED' } });
    expect(again.body).toMatchObject({ effect: 'APPLIED', status: 'APPROVED' });
  });

  it('a back-office result that meets it is retried (busy is transient), not dead-lettered, and recorded once the writes land', async () => {
    const id = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const model = h.service.app.get<Model<BankProfile>>(getModelToken(BankProfile.name), { strict: false });
    const write = model.updateOne.bind(model) as (...args: unknown[]) => unknown;
    // The first handling's five guarded writes all miss (busy); the retry's land.
    let missed = 0;
    const spy = jest.spyOn(model, 'updateOne').mockImplementation(((filter: Record<string, unknown>, ...rest: unknown[]) =>
      filter && 'decisionKeys' in filter && missed++ < 5
        ? Promise.resolve({ acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null })
        : write(filter, ...rest)) as never);
    try {
      const sent = await decide(id, 'BANK', 1, 'APPROVED');
      await watch.waitFor(of(id, 'ProfileApproved', 1));
      expect(missed).toBeGreaterThan(5);
      await bankEventsSettled(id);
      expect(watch.find((m) => m.topic === deadLetterTopic(Topics.validationResults) && m.envelope?.eventId === sent.eventId)).toEqual([]);
    } finally {
      spy.mockRestore();
    }
    expect(await profile(`/v1/bank-profiles/${id}`)).toMatchObject({ status: 'APPROVED', validationHistory: [expect.objectContaining({ revision: 1, outcome: 'APPROVED' })] });
  });
});

describe('a result keyed otherwise than by its profile`s partner (the topic`s contract)', () => {
  it('is applied all the same, and counted in kafka_messages_keyed_otherwise_total once its profile tells the partner', async () => {
    const [keyed, otherwise] = await Promise.all([0, 1].map(async () => (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId));
    const before = await keyedOtherwise();
    // Keyed by the partner: not counted.
    await decide(keyed, 'BANK', 1, 'APPROVED');
    await eventually(async () => expect(await profile(`/v1/bank-profiles/${keyed}`)).toMatchObject({ status: 'APPROVED' }), 30_000);
    expect(await keyedOtherwise()).toBe(before);
    // Keyed by the profile id: applied, and counted.
    const data: ProfileValidationCompleted = { profileId: otherwise, profileKind: 'BANK', revision: 1, outcome: 'APPROVED', reasons: [] };
    await h.kafka.publishEvent(Topics.validationResults, otherwise, { type: 'ProfileValidationCompleted', data, source: 'payments-back-office' });
    await eventually(async () => expect(await profile(`/v1/bank-profiles/${otherwise}`)).toMatchObject({ status: 'APPROVED' }), 30_000);
    expect(await keyedOtherwise()).toBe(before + 1);
  });
});
