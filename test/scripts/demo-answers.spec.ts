import type { Answer } from '../e2e/client';
import { demoFailure, enrollOnceCaughtUp } from '../../scripts/demo-answers';

const HINT = '(Is the platform running? Start it with: npm start)';
const PROBLEMS = 'https://incentives.partner.example/problems/';

/** A client whose Enroll answers are these, in turn (the last one again once they run out); it counts the calls. */
function answering(...answers: Array<Pick<Answer, 'status' | 'body'>>) {
  const client = {
    calls: 0,
    async call() {
      const answer = answers[Math.min(client.calls++, answers.length - 1)];
      return { ...answer, headers: new Headers() };
    },
  };
  return client;
}

const notEligible = { status: 422, body: { type: `${PROBLEMS}location-not-eligible`, title: 'Location not eligible', detail: 'Location L-A is not eligible for program P in FY27.' } };
const enrolled = { status: 201, body: { enrollmentId: 'E1', nextAction: 'CONTINUE' } };
const body = { programId: 'P', locationId: 'L-A' };

describe('npm run demo (scripts/demo-answers.ts): the answers it waits for and the failures it tells', () => {
  it('asks Enroll again while the enrollment service has not seen the decision (422 location-not-eligible) or the role (403)', async () => {
    const client = answering(notEligible, { status: 403, body: { type: `${PROBLEMS}forbidden` } }, notEligible, enrolled);
    await expect(enrollOnceCaughtUp(client, 'token', body, { intervalMs: 1 })).resolves.toEqual(enrolled.body);
    expect(client.calls).toBe(4);
  });

  it('stops at once on another answer, and after the timeout with what it was still told', async () => {
    const refused = answering({ status: 422, body: { type: `${PROBLEMS}agreement-inactive` } }, enrolled);
    await expect(enrollOnceCaughtUp(refused, 'token', body, { intervalMs: 1 })).rejects.toThrow('expected 201, got 422 {"type":"https://incentives.partner.example/problems/agreement-inactive"}');
    expect(refused.calls).toBe(1);

    const never = answering(notEligible);
    await expect(enrollOnceCaughtUp(never, 'token', body, { timeoutMs: 50, intervalMs: 5 })).rejects.toThrow(
      /^Enroll of L-A in P still answered 422 .*location-not-eligible.* after 0\.05 s: the enrollment service has not consumed the eligibility decision or the role/,
    );
    expect(never.calls).toBeGreaterThan(1);
  });

  it('tells a running platform\'s refusal as it is, without the hint to start it', () => {
    const refusal = new Error(`POST enrollment/v1/enrollments: expected 201, got 422 ${JSON.stringify(notEligible.body)}`);
    expect(demoFailure(refusal)).toBe(refusal.message);
    expect(demoFailure(new Error('the selected notice is still shown'))).not.toContain(HINT);
  });

  it('adds the hint when nothing answered: fetch failed (its cause says why) or no Kafka broker', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3001'), { code: 'ECONNREFUSED' });
    expect(demoFailure(new TypeError('fetch failed', { cause: refused }))).toBe(`fetch failed: connect ECONNREFUSED 127.0.0.1:3001\n${HINT}`);

    const broker = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError' });
    const retries = Object.assign(new Error(broker.message, { cause: broker }), { name: 'KafkaJSNumberOfRetriesExceeded' });
    expect(demoFailure(retries)).toBe(`Connection error: connect ECONNREFUSED 127.0.0.1:9092\n${HINT}`);
  });
});
