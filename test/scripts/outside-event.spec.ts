import { Topics } from '@lib/contracts';
import { TestKafka } from '@lib/testing';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { outsideEvent } from '../../scripts/outside-event';

const root = join(__dirname, '..', '..');

describe('npm run event (scripts/outside-event.ts): an outside system\'s event from the shell', () => {
  it('builds the eligibility decision and the agreement status the contract describes, keyed as their topics are', () => {
    const decision = outsideEvent('eligibility', '{"programId":"P1","locationId":"L1","partnerId":"C1","fiscalYear":"FY27","eligible":false,"reasons":["Revenue below threshold"]}');
    expect(decision).toMatchObject({
      topic: Topics.eligibility,
      key: 'L1',
      envelope: { type: 'EligibilityDetermined', source: 'eligibility-system', partnerId: 'C1', locationId: 'L1', data: { eligible: false, reasons: ['Revenue below threshold'] } },
    });
    expect(outsideEvent('agreement', '{"partnerId":"C1","active":true}')).toMatchObject({ topic: Topics.agreements, key: 'C1', envelope: { type: 'AgreementStatusChanged', data: { active: true } } });
  });

  it('says what is wrong, and publishes nothing, for an unknown kind, data that is no JSON object, or data the contract refuses', () => {
    expect(() => outsideEvent('payment', '{}')).toThrow('Say which event: eligibility or agreement (got payment).');
    expect(() => outsideEvent('agreement', "{partnerId: 'C1'}")).toThrow(/must be one JSON object in quotes/);
    expect(() => outsideEvent('agreement', '[1]')).toThrow(/must be a JSON object/);
    expect(() => outsideEvent('eligibility', '{"programId":"P1","locationId":"L1","partnerId":"C1","fiscalYear":"2027","eligible":"yes"}')).toThrow(/fiscalYear must look like FY27[\s\S]*eligible/);
  });

  it('publishes it on the broker (KAFKA_BROKERS), where the platform reads it', async () => {
    const kafka = new TestKafka(process.env.KAFKA_BROKERS!.split(','));
    try {
      await kafka.ensureTopics([Topics.agreements]);
      const watch = await kafka.watch([Topics.agreements]);
      const partnerId = `C-${randomUUID().slice(0, 8)}`;
      const { stdout } = await promisify(execFile)(process.execPath, ['-r', '@swc-node/register', 'scripts/outside-event.ts', 'agreement', JSON.stringify({ partnerId, active: false })], {
        cwd: root,
        env: process.env,
      });
      expect(stdout).toMatch(new RegExp(`^published AgreementStatusChanged [0-9a-f-]{36} on ${Topics.agreements.replace(/\./g, '\\.')} \\(key ${partnerId}\\)`));
      const [message] = await watch.waitFor((m) => m.envelope?.partnerId === partnerId);
      expect(message).toMatchObject({ key: partnerId, envelope: { type: 'AgreementStatusChanged', data: { partnerId, active: false } } });
    } finally {
      await kafka.close();
    }
  }, 60_000);
});
