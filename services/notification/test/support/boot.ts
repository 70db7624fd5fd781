import { Topics } from '@lib/contracts';
import { bootService, RunningService, TestIssuer, uniqueName } from '@lib/testing';
import { AppModule } from '../../src/app.module';
import { startGroupAtEnd } from './consumer-group';

/** The notification service as deployed, in this process, starting from the current end of the topics it reads. */
export async function bootNotification(issuer: TestIssuer, env: Record<string, string>): Promise<RunningService> {
  const groupId = uniqueName('notification');
  await startGroupAtEnd(groupId, [Topics.identity, Topics.invitations, Topics.enrollments, Topics.payoutProfiles]);
  return bootService(AppModule, {
    name: 'notification',
    env: { ...issuer.env(), KAFKA_GROUP_ID: groupId, KAFKA_PARTITIONS_CONCURRENCY: '6', ...env },
  });
}
