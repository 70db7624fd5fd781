import { Topics } from '@lib/contracts';
import { bootService, RunningService, TestIssuer } from '@lib/testing';
import { AppModule } from '../../src/app.module';

/** The notification service as deployed, in this process, starting from the current end of the topics it reads. */
export async function bootNotification(issuer: TestIssuer, env: Record<string, string>): Promise<RunningService> {
  return bootService(AppModule, {
    name: 'notification',
    env: { ...issuer.env(), KAFKA_PARTITIONS_CONCURRENCY: '6', ...env },
    startAtEndOf: [Topics.identity, Topics.invitations, Topics.enrollments, Topics.payoutProfiles, Topics.programs],
  });
}
