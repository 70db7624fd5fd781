import { Topics } from '@lib/contracts';
import { bootService, RunningService, SmtpTestServer, TestIssuer, TestKafka, TopicWatch } from '@lib/testing';
import { MongoClient } from 'mongodb';
import { AppModule } from '../../src/app.module';

/** The notification service as deployed, in this process, starting from the current end of the topics it reads. */
export async function bootNotification(issuer: TestIssuer, env: Record<string, string>): Promise<RunningService> {
  return bootService(AppModule, {
    name: 'notification',
    env: { ...issuer.env(), KAFKA_PARTITIONS_CONCURRENCY: '6', ...env },
    startAtEndOf: [Topics.identity, Topics.invitations, Topics.enrollments, Topics.payoutProfiles, Topics.programs],
  });
}

/**
 * The notification service as a spec file's tests meet it, with what they drive it by: an issuer, a Kafka client, an
 * SMTP server and a client of its database, started before the file's tests (with `watch`: those topics watched from
 * before the service starts) and stopped after them (Jest hooks). `ready` receives the service and the watch.
 */
export function notificationUnderTest(env: Record<string, string>, options: { watch?: string[]; ready: (up: { service: RunningService; watch: TopicWatch }) => void }) {
  const issuer = new TestIssuer();
  const kafka = new TestKafka();
  const smtp = new SmtpTestServer();
  const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
  let service: RunningService | undefined;
  beforeAll(async () => {
    await Promise.all([issuer.start(), smtp.start(), mongo.connect()]);
    const watch = options.watch?.length ? await kafka.watch(options.watch) : (undefined as unknown as TopicWatch);
    service = await bootNotification(issuer, { SMTP_URL: smtp.url, PORTAL_BASE_URL: 'http://portal.test', ...env });
    options.ready({ service, watch });
  });
  afterAll(async () => {
    await service?.close();
    await kafka.close();
    await smtp.stop();
    await mongo.close();
    await issuer.stop();
  });
  return { issuer, kafka, smtp, mongo };
}
