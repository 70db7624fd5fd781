/**
 * `npm run demo`: walks the article's story against the platform `npm start` runs, printing each step as a person
 * would follow it. Outside systems (eligibility, the payments back office) are played by publishing on their topics.
 */
import { Topics } from '@lib/contracts';
import { kafkaConnectionFromEnv } from '@lib/platform';
import { TestKafka } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { assignRole, Client, CURRENT_FY, eligibility, eventually, importUsers, NEXT_FY, registerPartner, usBankProfile, usTaxProfile } from '../test/e2e/client';
import { demoFailure, enrollOnceCaughtUp } from './demo-answers';
import { runningPlatform } from './running-platform';

/** What `make` gives; when it refuses (no platform ready, a bad KAFKA_TLS* or KAFKA_SASL_* setting), its one line, and exit. */
function orStop<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}

const running = orStop(() => runningPlatform('run the demo'));
const client = new Client({ url: (service) => running.urls[service], operatorKey: running.operatorKey });
// Connected as the services and the operators' tools are (`npm run event`, `npm run dlq`): TLS and SASL from the environment.
const kafka = orStop(() => new TestKafka(running.kafkaBrokers, kafkaConnectionFromEnv()));
let step = 0;
const say = (text: string) => process.stdout.write(`\n${++step}. ${text}\n`);
const detail = (text: string) => process.stdout.write(`   ${text}\n`);

async function mailsTo(address: string): Promise<Array<{ subject: string; html: string; text?: string }>> {
  const all = (await (await fetch(`${running.mail}/email`)).json()) as Array<{ subject: string; html: string; text?: string; to: Array<{ address: string }> }>;
  return all.filter((m) => m.to.some((t) => t.address.toLowerCase() === address.toLowerCase()));
}

async function main() {
  // platform.json outlives an `npm start` killed without its cleanup (SIGKILL): ask the platform itself.
  const answering = await fetch(`${running.urls.identity}/health/ready`).then((r) => r.ok, () => false);
  if (!answering) {
    process.stderr.write('The platform does not answer (its `npm start` was stopped?): start it with `npm start`, then run the demo again.\n');
    await kafka.close();
    process.exit(1);
  }
  const run = randomUUID().slice(0, 6);
  const [A, B, P, OPEN] = [`LOC-A-${run}`, `LOC-B-${run}`, `AZURE-GROWTH-${run}`, `OPEN-SKILLING-${run}`];

  say('A platform operator registers Contoso with two locations and its Global admin.');
  const partner = await registerPartner(client, 'Contoso', [
    { locationId: A, country: 'US' },
    { locationId: B, country: 'DE' },
  ]);
  const ga = await client.signIn(partner.globalAdminEmail);
  detail(`partner ${partner.partnerId}; Global admin ${partner.globalAdminEmail}; locations ${A} (US), ${B} (DE)`);

  say('The Global admin imports users from the company directory and makes Alice the Incentives admin of location A.');
  const alice = `alice.${run}@contoso.example`;
  const bob = `bob.${run}@contoso.example`;
  const ids = await importUsers(client, ga, [
    { externalId: `alice-${run}`, email: alice, givenName: 'Alice', familyName: 'Admin' },
    { externalId: `bob-${run}`, email: bob, givenName: 'Bob', familyName: 'Later' },
  ]);
  await assignRole(client, ga, ids[alice], 'INCENTIVES_ADMIN', [A]);
  detail(`imported ${alice} and ${bob}; ${alice} is Incentives admin of ${A}`);

  say('Microsoft publishes two incentive programs: one needs eligibility, one is open to all.');
  for (const [programId, requiresEligibility] of [[P, true], [OPEN, false]] as const) {
    await client.expect(201, 'enrollment', 'POST', '/v1/programs', {
      operator: true,
      body: {
        programId,
        name: requiresEligibility ? 'Azure Growth' : 'Open Skilling',
        fiscalYear: CURRENT_FY,
        requiresEligibility,
        payoutRules: { allowedCurrencies: ['USD', 'EUR'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true },
        state: 'OPEN',
      },
    });
  }
  detail(`${P} (requires eligibility), ${OPEN} (open)`);

  say(`An eligibility system decides that ${A} is eligible for ${P} in ${CURRENT_FY}.`);
  await eligibility(kafka, partner.partnerId, A, P, true);
  const [invitation] = await eventually(async () => {
    const mails = await mailsTo(alice);
    if (!mails.length) throw new Error('no mail yet');
    return mails;
  }, 60_000);
  detail(`Alice receives "${invitation.subject}" (see ${running.mail})`);
  const aliceToken = await client.signIn(alice);
  const notices = await client.expect(200, 'invitations', 'GET', '/v1/notices', { token: aliceToken });
  const notice = notices.items[0];
  const selected = await client.expect(200, 'invitations', 'POST', `/v1/notices/${notice.invitationId}/select`, { token: aliceToken });
  const after = await client.expect(200, 'invitations', 'GET', '/v1/notices', { token: aliceToken });
  if (after.items.some((n: { invitationId: string }) => n.invitationId === notice.invitationId)) throw new Error('the selected notice is still shown');
  detail(`Alice selects the home-page notice once: Get Started -> ${selected.getStartedUrl}; it is not shown again`);

  say(`${B} becomes eligible too, but has no Incentives admin: the Global admin is asked to assign one.`);
  await eligibility(kafka, partner.partnerId, B, P, true);
  // The one about B (had Alice's role reached invitations after the first decision, one about A came first).
  const asked = await eventually(async () => {
    const found = (await mailsTo(partner.globalAdminEmail)).find((m) => `${m.text ?? ''}${m.html}`.includes(B));
    if (!found) throw new Error('no mail about B yet');
    return found;
  }, 60_000);
  detail(`Global admin receives "${asked.subject}"`);
  await assignRole(client, ga, ids[bob], 'INCENTIVES_ADMIN', [B]);
  await eventually(async () => {
    if (!(await mailsTo(bob)).length) throw new Error('no mail yet');
  }, 60_000);
  detail(`Bob is assigned to ${B} and receives the invitation`);

  say('Alice selects Enroll. There is no bank or tax profile yet: the answer is Continue, with what is missing.');
  // Alice's invitation came through invitations; enrollment reads A's decision (and her role) on its own, maybe later.
  const first = await enrollOnceCaughtUp(client, aliceToken, { programId: P, locationId: A });
  if (first.nextAction !== 'CONTINUE') throw new Error(`expected Continue, got ${first.nextAction}`);
  detail(`${first.status} / next action ${first.nextAction}: missing ${first.missing?.join(', ')}`);

  say('Alice creates a bank profile, makes it the default of A, and adds the tax profile of A.');
  const bank = await client.expect(201, 'payout-profiles', 'POST', '/v1/bank-profiles', { token: aliceToken, body: usBankProfile(`USD main ${run}`) });
  const bankProfileId = bank.profileId;
  await client.expect(201, 'payout-profiles', 'PUT', `/v1/locations/${A}/default-bank-profile`, { token: aliceToken, body: { bankProfileId, currency: 'USD' } });
  const tax = await client.expect(201, 'payout-profiles', 'POST', `/v1/locations/${A}/tax-profile`, { token: aliceToken, body: usTaxProfile('Contoso Inc') });
  detail(`bank profile ${bankProfileId} (account shown as ${bank.account.maskedAccount}), tax profile ${tax.profileId}: Pending Microsoft validation`);

  say('Alice selects Enroll again: the default bank profile and the tax profile are proposed; she submits.');
  const proposed = await eventually(async () => {
    const answer = await client.call('enrollment', 'POST', '/v1/enrollments', { token: aliceToken, body: { programId: P, locationId: A } });
    if (answer.body.nextAction !== 'SUBMIT') throw new Error('profiles not seen yet');
    return answer.body;
  }, 30_000);
  const submitted = await client.expect(200, 'enrollment', 'POST', `/v1/enrollments/${proposed.enrollmentId}/submit`, { token: aliceToken });
  if (submitted.status !== 'VALIDATING') throw new Error(`after Submit: ${submitted.status}`);
  detail(`proposal ${JSON.stringify(proposed.proposal)}; after Submit: ${submitted.statusLabel ?? submitted.status}`);

  say('The payments back office validates both profiles.');
  const requests = await kafka.watch([Topics.validationRequests]);
  for (const profileId of [bankProfileId, tax.profileId]) {
    const [request] = await requests.waitFor<{ profileId: string; profileKind: 'BANK' | 'TAX'; revision: number }>((m) => (m.envelope?.data as { profileId?: string })?.profileId === profileId, { timeoutMs: 30_000 });
    await kafka.publishEvent(Topics.validationResults, partner.partnerId, {
      type: 'ProfileValidationCompleted',
      source: 'payments-back-office',
      data: { profileId, profileKind: request.envelope!.data.profileKind, revision: request.envelope!.data.revision, outcome: 'APPROVED', reasons: [] },
    });
  }
  const enrolled = await eventually(async () => {
    const e = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments/${proposed.enrollmentId}`, { token: aliceToken });
    if (e.status !== 'ENROLLED') throw new Error(e.status);
    return e;
  }, 60_000);
  const enrolledMail = await eventually(async () => {
    const found = (await mailsTo(alice)).find((m) => / is enrolled in /.test(m.subject));
    if (!found) throw new Error('no enrolled email yet');
    return found;
  }, 60_000);
  detail(`the enrollment is ${enrolled.statusLabel ?? enrolled.status}; Alice receives "${enrolledMail.subject}"`);

  say('The incentives overview shows the open program too, with no invitation email for it.');
  await eventually(async () => {
    const overview = await client.expect(200, 'invitations', 'GET', '/v1/overview', { token: aliceToken });
    if (!JSON.stringify(overview).includes(OPEN)) throw new Error(`${OPEN} not in the overview yet`);
  }, 30_000);
  // Had the open program sent Alice an email, it would have come long before her enrolled email above.
  const openMails = (await mailsTo(alice)).filter((m) => m.subject.includes(OPEN) || m.html.includes(OPEN));
  if (openMails.length) throw new Error(`the open program ${OPEN} must send no email, and sent ${openMails.length}`);
  detail(`${OPEN} is listed with Enroll; emails about it: ${openMails.length}`);

  say(`The fiscal year ends: the enrollment continues into ${NEXT_FY} (agreement active, still eligible, profiles approved).`);
  const rolled = await client.expect(200, 'enrollment', 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: CURRENT_FY, programId: P } });
  detail(`the operator runs the ${CURRENT_FY} rollover: ${rolled.renewed} renewed, ${rolled.expired} expired, ${rolled.actionRequired} action required`);
  const next = await eventually(async () => {
    const list = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments?locationId=${A}&programId=${P}`, { token: aliceToken });
    const found = (list.items as Array<{ fiscalYear: string; status: string; enrollmentId: string }>).find((e) => e.fiscalYear === NEXT_FY);
    if (found?.status !== 'ENROLLED') throw new Error(`${NEXT_FY} enrollment: ${found?.status ?? 'not there yet'}`);
    return found;
  }, 60_000);
  detail(`${A} is ${next.status} in ${P} for ${NEXT_FY} (${next.enrollmentId})`);

  say(`The partner's agreement becomes inactive; at the end of ${NEXT_FY} the enrollment expires and Alice is told why.`);
  await kafka.publishEvent(Topics.agreements, partner.partnerId, {
    type: 'AgreementStatusChanged',
    source: 'agreements-system',
    partnerId: partner.partnerId,
    data: { partnerId: partner.partnerId, active: false },
  });
  const expired = await eventually(async () => {
    // The next year is not over yet: the operator ends it now on purpose (endYearNow), as the run at its end would.
    await client.call('enrollment', 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: NEXT_FY, programId: P, endYearNow: true } });
    const e = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments/${next.enrollmentId}`, { token: aliceToken });
    if (e.status !== 'EXPIRED') throw new Error(e.status);
    return e;
  }, 60_000);
  detail(`${NEXT_FY} enrollment ${expired.status}: ${JSON.stringify(expired.reasons)}`);
  const mail = await eventually(async () => {
    const found = (await mailsTo(alice)).find((m) => /has expired/.test(m.subject));
    if (!found) throw new Error('no expiry email yet');
    return found;
  }, 60_000);
  detail(`Alice receives "${mail.subject}"`);

  say(`Done. Open ${running.mail} to read every email the platform sent.`);
  await kafka.close();
}

main().catch(async (error) => {
  process.stderr.write(`\nThe demo stopped: ${demoFailure(error)}\n`);
  await kafka.close();
  process.exit(1);
});
