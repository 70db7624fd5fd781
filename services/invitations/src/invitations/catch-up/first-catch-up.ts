import { Topics } from '@lib/contracts';
import { consumerGroupFor, endOffsets, isDuplicateKey, KAFKA, MESSAGING_OPTIONS, MessagingOptions, partitionsBehind } from '@lib/messaging';
import { BackgroundWork } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Admin, Kafka } from 'kafkajs';
import type { Collection } from 'mongodb';
import type { Connection } from 'mongoose';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReconcileInvitation } from '../usecases/reconcile-invitation.use-case';
import { CatchUpGate } from './catch-up-gate';

/** The topics whose facts move an invitation. */
export const INVITATION_INPUTS = [Topics.identity, Topics.eligibility, Topics.programs, Topics.enrollments];

/** How often the committed offsets are compared with the targets while catching up. */
const POLL_MS = 500;
/** How long a failed step (the broker or the database away) waits before it is tried again. */
const RETRY_MS = 2_000;
/** How often progress is logged while catching up. */
const PROGRESS_LOG_MS = 30_000;
/** Deferred invitations read, reconciled and forgotten at a time. */
const DRAIN_BATCH = 500;

/** What the first start on this database stored: the input topics' end offsets then, and when the catch-up was done. */
interface CatchUpState {
  _id: 'inputs';
  targets: Array<{ topic: string; partition: number; offset: string }>;
  startedAt: Date;
  doneAt?: Date;
}

/**
 * The first start of the service on its database (a new deployment, on a platform whose topics already hold history)
 * stores the end offsets of its input topics then, and keeps the CatchUpGate closed until the service's consumer group
 * has committed up to them: every fact published before it started is in the views. It then opens the gate,
 * reconciles every invitation put off meanwhile, and marks the catch-up done, so later starts open the gate at once
 * (any deferral a replica left behind, killed between its deferral and its drain, is reconciled then).
 *
 * Every replica waits on the same stored targets, and each drains what is deferred when its own gate opens. A start
 * killed during the catch-up starts it again where it was: the targets are stored, the views and the deferrals too.
 * Runs in the background (BackgroundWork, `invitations-catch-up` on /metrics): the HTTP API answers meanwhile, from the
 * views as far as they are.
 */
@Injectable()
export class FirstCatchUp implements OnApplicationBootstrap {
  private readonly logger = new Logger(FirstCatchUp.name);
  private readonly state: Collection<CatchUpState>;
  /** The catch-up's run, for the specs. */
  running?: Promise<void>;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(MESSAGING_OPTIONS) private readonly options: MessagingOptions,
    @InjectConnection() connection: Connection,
    private readonly gate: CatchUpGate,
    private readonly reconcile: ReconcileInvitation,
    private readonly work: BackgroundWork,
  ) {
    this.state = connection.collection<CatchUpState>('catch_up');
  }

  /**
   * Before the consumers start: a database that has caught up once opens the gate now (one read), so the usual start
   * defers nothing. Otherwise, or if that read fails, the run below decides, in the background.
   */
  async onApplicationBootstrap(): Promise<void> {
    const done = await this.state.findOne({ _id: 'inputs' }).then(
      (state) => !!state?.doneAt,
      () => false,
    );
    if (done) await this.gate.open();
    this.running = this.work.run('invitations-catch-up', () => this.run()).catch((error: Error) => {
      this.logger.error(`catch-up stopped: ${error.message}`);
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.work.stopRequested) return;
      try {
        const state = await this.stored();
        if (!state.doneAt && !(await this.caughtUp(state))) return; // shutting down
        await this.gate.open();
        const reconciled = await this.drain();
        if (reconciled === undefined) return; // shutting down: the next start drains the rest
        if (!state.doneAt) {
          await this.state.updateOne({ _id: 'inputs', doneAt: { $exists: false } }, { $set: { doneAt: new Date() } });
          this.logger.log(`caught up with the history of ${INVITATION_INPUTS.join(', ')} (${Math.round((Date.now() - state.startedAt.getTime()) / 1_000)} s since the first start); reconciled the ${reconciled} invitation(s) put off meanwhile`);
        } else if (reconciled > 0) {
          this.logger.log(`reconciled ${reconciled} invitation(s) put off before the catch-up was done`);
        }
        return;
      } catch (error) {
        this.logger.warn(`catch-up with the input topics: ${(error as Error).message}; trying again in ${RETRY_MS} ms`);
        await sleep(RETRY_MS);
      }
    }
  }

  /** The stored state; on the first start, the input topics' end offsets now, stored once (a replica starting alongside reads this one's). */
  private async stored(): Promise<CatchUpState> {
    const found = await this.state.findOne({ _id: 'inputs' });
    if (found) return found;
    const ends = await this.withAdmin(async (admin) => {
      const known = new Set(await admin.listTopics());
      return endOffsets(admin, INVITATION_INPUTS.filter((topic) => known.has(topic)));
    });
    const state: CatchUpState = {
      _id: 'inputs',
      targets: [...ends].map(([key, offset]) => ({ topic: key.slice(0, key.lastIndexOf(':')), partition: Number(key.slice(key.lastIndexOf(':') + 1)), offset: String(offset) })),
      startedAt: new Date(),
    };
    try {
      await this.state.insertOne(state);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      return (await this.state.findOne({ _id: 'inputs' }))!;
    }
    const messages = [...ends.values()].reduce((sum, offset) => sum + offset, 0n);
    this.logger.log(`first start on this database: inviting nobody until the ${ends.size} partition(s) of its input topics holding history (offsets up to ${messages} in all) are consumed`);
    return state;
  }

  /** Waits until the group has committed up to the targets; false when shutdown began first. */
  private async caughtUp(state: CatchUpState): Promise<boolean> {
    const targets = new Map(state.targets.map(({ topic, partition, offset }) => [`${topic}:${partition}`, BigInt(offset)]));
    return this.withAdmin(async (admin) => {
      let logged = Date.now();
      for (;;) {
        const behind = await partitionsBehind(admin, (topic) => consumerGroupFor(this.options, topic), targets);
        if (behind.length === 0) return true;
        if (this.work.stopRequested) return false;
        if (Date.now() - logged >= PROGRESS_LOG_MS) {
          logged = Date.now();
          this.logger.log(`catching up with the input topics' history: ${behind.length} partition(s) behind (${behind.slice(0, 5).join(', ')})`);
        }
        await sleep(POLL_MS);
      }
    });
  }

  /** Reconciles every deferred invitation; how many, or undefined when shutdown stopped it. */
  private async drain(): Promise<number | undefined> {
    let reconciled = 0;
    let after: string | undefined;
    for (;;) {
      if (this.work.stopRequested) return undefined;
      const batch = await this.gate.deferredAfter(after, DRAIN_BATCH);
      if (batch.length === 0) return reconciled;
      await this.reconcile.executeAll(batch.map((entry) => entry._id), async () => undefined);
      await this.gate.forget(batch);
      reconciled += batch.length;
      after = batch[batch.length - 1]._id;
    }
  }

  private async withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      return await use(admin);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
