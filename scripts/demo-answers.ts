/**
 * How `npm run demo` (scripts/demo.ts) reads the platform's answers: an Enroll that waits for the enrollment service to
 * catch up with the events the demo just caused, and a failure told as it is, with the start hint only when nothing
 * answered. Apart from demo.ts, which needs a running platform as soon as it is loaded, so that a spec can load these.
 */
import type { Answer, Client } from '../test/e2e/client';

/**
 * Answers of an Enroll that only say the enrollment service has not consumed yet what it needs: the eligibility decision
 * (422 `location-not-eligible`) or the caller's role (403), published moments ago and read by each service on its own.
 */
function notCaughtUp(answer: Answer): boolean {
  const type = String(answer.body?.type ?? '');
  return (answer.status === 422 && type.endsWith('/location-not-eligible')) || answer.status === 403;
}

/**
 * Enroll (201), asked again every `intervalMs` while the enrollment service has not caught up (notCaughtUp), for up to
 * `timeoutMs`: another service's email having come (the invitation) says nothing of this one's consumers.
 */
export async function enrollOnceCaughtUp(
  client: Pick<Client, 'call'>,
  token: string,
  body: { programId: string; locationId: string },
  { timeoutMs = 30_000, intervalMs = 500 } = {},
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await client.call('enrollment', 'POST', '/v1/enrollments', { token, body });
    if (answer.status === 201) return answer.body;
    if (!notCaughtUp(answer)) throw new Error(`POST enrollment/v1/enrollments: expected 201, got ${answer.status} ${JSON.stringify(answer.body)}`);
    if (Date.now() >= deadline) {
      throw new Error(
        `Enroll of ${body.locationId} in ${body.programId} still answered ${answer.status} ${JSON.stringify(answer.body)} after ${timeoutMs / 1000} s: ` +
          'the enrollment service has not consumed the eligibility decision or the role (see .local/logs/enrollment.log).',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `error` and the errors it was caused by (fetch's "fetch failed" says why in its cause only). */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

const CONNECTION_CODES = ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'ETIMEDOUT'];

/** Nothing answered: no HTTP answer at all (fetch failed), or no Kafka broker (KafkaJSConnectionError, maybe as a cause). */
function connectionFailure(error: unknown): boolean {
  return causes(error).some((e) => {
    const { code, name, message } = (e ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
    return CONNECTION_CODES.includes(String(code)) || message === 'fetch failed' || String(name).startsWith('KafkaJSConnection');
  });
}

/**
 * What the demo says when it stops: the failure as it is (an answer's status, problem type and detail are in the
 * message), and the start hint only when the platform did not answer: a running platform's 4xx is no reason to start it.
 */
export function demoFailure(error: unknown): string {
  const told = [...new Set(causes(error).map((e) => (e instanceof Error ? e.message : String(e))))].join(': ');
  return connectionFailure(error) ? `${told}\n(Is the platform running? Start it with: npm start)` : told;
}
