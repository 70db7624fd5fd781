import { Topics } from '@lib/contracts';
import { consumerGroupFor, endOffsets, isDuplicateKey, KAFKA, MESSAGING_OPTIONS, MessagingOptions, partitionsBehind, Trace } from '@lib/messaging';
import { BackgroundWork, CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Admin, Kafka } from 'kafkajs';
import type { Collection } from 'mongodb';
import type { Connection } from 'mongoose';
import { setTimeout as sleep } from 'node:timers/promises';
import { RECONCILED_AT_ONCE, ReconcileInvitation } from '../usecases/reconcile-invitation.use-case';
import type { InvitationsConfig } from '../../config';
import { CatchUpGate } from './catch-up-gate';
import { HistoryFloors, OwnTarget } from './history-floors';

/** The topics whose facts move an invitation. */
export const INVITATION_INPUTS = [Topics.identity, Topics.eligibility, Topics.programs, Topics.enrollments];

/** How often the committed offsets are compared with the targets while catching up. */
const POLL_MS = 500;
/** How long a failed step (the broker or the database away) waits before it is tried again. */
const RETRY_MS = 2_000;
/** How often progress is logged while catching up. */
const PROGRESS_LOG_MS = 30_000;
/** Deferred invitations read and forgotten at a time. */
const DRAIN_BATCH = 500;
/** How often, once caught up, the deferrals another replica may have left are looked for. */
export const SWEEP_MS = 60_000;

/** What the first start on this database stored: the input topics' end offsets then, and when the catch-up was done. */
interface CatchUpState {
  _id: 'inputs';
  targets: Array<{ topic: string; partition: number; offset: string }>;
  startedAt: Date;
  doneAt?: Date;
  /**
   * On a first start with no invitation stored while invitations.events.v1 holds events (an earlier deployment's: its
   * database lost, or this one new beside the topics): their end offsets, read for the invitations' floors
   * (HistoryFloors) before the gate opens; `invitations`: how many it found, once read.
   */
  own?: { targets: OwnTarget[]; invitations?: number; doneAt?: Date };
}

/** Shutdown began while the catch-up waited on the broker. */
class Stopping extends Error {}

/**
 * The first start of the service on its database (a new deployment, on a platform whose topics already hold history)
 * stores the end offsets of its input topics then, and keeps the CatchUpGate closed until the service's consumer group
 * has committed up to them: every fact published before it started is in the views. It then opens the gate,
 * reconciles every invitation put off meanwhile, and marks the catch-up done, so later starts open the gate at once.
 *
 * Every replica waits on the same stored targets, and each drains what is deferred when its own gate opens. A start
 * killed during the catch-up starts it again where it was: the targets are stored, the views and the deferrals too.
 * A deferral a replica could not drain itself (stopped, scaled in, or killed between its deferral and its drain, just
 * as another opened) is drained by any replica's sweep (every SWEEP_MS) and at every start. An invitation whose
 * reconcile fails stays deferred, for the next sweep, and does not hold up the others.
 * Runs in the background (BackgroundWork, `invitations-catch-up` on /metrics, `incomplete` when stopped or an
 * invitation failed): the HTTP API answers meanwhile, from the views as far as they are. At shutdown a wait on the
 * broker is given up once the consumers have stopped (the module's destroy hook), a drain stops after its batch.
 */
@Injectable()
export class FirstCatchUp implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(FirstCatchUp.name);
  private readonly state: Collection<CatchUpState>;
  private readonly invitations: Collection;
  private stop!: () => void;
  private readonly stopped = new Promise<void>((resolve) => (this.stop = resolve));
  private sweeping?: NodeJS.Timeout;
  /** A run is going (start to end). */
  private busy = false;
  /** The run in progress or last (caught up, and every deferral reconciled: true); the specs wait for it. */
  running?: Promise<boolean>;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(MESSAGING_OPTIONS) private readonly options: MessagingOptions,
    @InjectConnection() connection: Connection,
    private readonly gate: CatchUpGate,
    private readonly reconcile: ReconcileInvitation,
    private readonly work: BackgroundWork,
    private readonly floors: HistoryFloors,
    @Inject(CONFIG) private readonly config: Pick<InvitationsConfig, 'INVITATIONS_HISTORY_FLOORS'>,
  ) {
    this.state = connection.collection<CatchUpState>('catch_up');
    this.invitations = connection.collection('invitations');
  }

  /**
   * Before the consumers start: a database that has caught up once opens the gate now (one read), so the usual start
   * defers nothing, and only what a replica left put off is drained (the sweep: one read more). Otherwise, or if that
   * read fails, the run decides, in the background.
   */
  async onApplicationBootstrap(): Promise<void> {
    const state = await this.state.findOne({ _id: 'inputs' }).catch(() => null);
    const done = !!state?.doneAt;
    if (done) {
      await this.floors.load();
      await this.gate.open();
    }
    this.running = done ? this.sweep() : this.start();
    this.sweeping = setInterval(() => void this.sweep(), SWEEP_MS).unref();
  }

  onModuleDestroy(): void {
    this.stop();
    clearInterval(this.sweeping);
  }

  /**
   * Once the gate is open: a run when anything is deferred (another replica's leftovers, a failed reconcile). A run
   * going is waited for first, and then it looks again: what was deferred before the call is drained when it answers.
   * Whether nothing is left put off (as the run answers).
   */
  async sweep(): Promise<boolean> {
    while (this.busy) await this.running;
    if (!this.gate.isOpen || this.busy || this.work.stopRequested) return false;
    const left = await this.gate.deferredAfter(undefined, 1).catch(() => undefined);
    if (left?.length === 0) return true;
    if (!left || this.busy || this.work.stopRequested) return false;
    this.running = this.start();
    return this.running;
  }

  private start(): Promise<boolean> {
    this.busy = true;
    return this.work
      .run('invitations-catch-up', () => Trace.job('invitations-catch-up', () => this.run()), { complete: (done) => done })
      .catch((error: Error) => {
        this.logger.error(`catch-up stopped: ${error.message}`);
        return false;
      })
      .finally(() => (this.busy = false));
  }

  private async run(): Promise<boolean> {
    for (;;) {
      if (this.work.stopRequested) return false;
      try {
        const state = await this.stored();
        if (!state.doneAt && !(await this.caughtUp(state))) return false; // shutting down
        await this.readFloors(state);
        await this.gate.open();
        const drained = await this.drain();
        if (!drained) return false; // shutting down: a sweep or the next start drains the rest
        if (!state.doneAt) {
          await this.state.updateOne({ _id: 'inputs', doneAt: { $exists: false } }, { $set: { doneAt: new Date() } });
          this.logger.log(`caught up with the history of ${INVITATION_INPUTS.join(', ')} (${Math.round((Date.now() - state.startedAt.getTime()) / 1_000)} s since the first start); reconciled the ${drained.reconciled} invitation(s) put off meanwhile`);
        } else if (drained.reconciled > 0) {
          this.logger.log(`reconciled ${drained.reconciled} invitation(s) put off before`);
        }
        if (drained.failed.length > 0) {
          this.logger.warn(`${drained.failed.length} invitation(s) put off could not be reconciled (${drained.failed.slice(0, 5).join('; ')}): left in deferred_reconciles, tried again within ${SWEEP_MS / 1_000} s`);
        }
        return drained.failed.length === 0;
      } catch (error) {
        if (this.work.stopRequested) return false;
        this.logger.warn(`catch-up with the input topics: ${(error as Error).message}; trying again in ${RETRY_MS} ms`);
        await sleep(RETRY_MS);
      }
    }
  }

  /** The stored state; on the first start, the input topics' end offsets now, stored once (a replica starting alongside reads this one's). */
  private async stored(): Promise<CatchUpState> {
    const found = await this.state.findOne({ _id: 'inputs' });
    if (found) return found;
    // No invitation stored (a database of an earlier release has some: it needs no floors), its own topic holding events.
    const empty = this.config.INVITATIONS_HISTORY_FLOORS && !(await this.invitations.findOne({}, { projection: { _id: 1 } }));
    const { ends, own } = await this.withAdmin(async (admin) => {
      const known = new Set(await admin.listTopics());
      return { ends: await endOffsets(admin, INVITATION_INPUTS.filter((topic) => known.has(topic))), own: empty ? await HistoryFloors.targets(admin, known) : [] };
    });
    const state: CatchUpState = {
      _id: 'inputs',
      targets: [...ends].map(([key, offset]) => ({ topic: key.slice(0, key.lastIndexOf(':')), partition: Number(key.slice(key.lastIndexOf(':') + 1)), offset: String(offset) })),
      startedAt: new Date(),
      ...(own.length > 0 && { own: { targets: own } }),
    };
    try {
      await this.state.insertOne(state);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      return (await this.state.findOne({ _id: 'inputs' }))!;
    }
    this.logger.log(`first start on this database: inviting nobody until the history on ${ends.size} partition(s) of its input topics is consumed`);
    return state;
  }

  /**
   * The floors of the invitations an earlier deployment published (HistoryFloors), read once before the gate opens:
   * nothing is invited before. Read already (by this start or another replica's), only told to HistoryFloors.
   */
  private async readFloors(state: CatchUpState): Promise<void> {
    const stored = (await this.state.findOne({ _id: 'inputs' }, { projection: { own: 1 } }))?.own ?? state.own;
    // Turned off since the targets were stored (the read refused, an operator deciding without it): not read.
    if (stored && !stored.doneAt && this.config.INVITATIONS_HISTORY_FLOORS) {
      this.logger.log(`no invitation stored, and invitations.events.v1 holds an earlier deployment's events: reading them for the invitations' versions and cycles to start above`);
      // Thrown when not read whole: the run tries again (a floor missed would let an invitation reuse an earlier id).
      const invitations = await this.floors.read(stored.targets, () => this.work.stopRequested, this.stopped);
      await this.state.updateOne({ _id: 'inputs', 'own.doneAt': { $exists: false } }, { $set: { 'own.doneAt': new Date(), 'own.invitations': invitations } });
      this.logger.log(`read the events of ${invitations} invitation(s) an earlier deployment published: those it creates again start above them`);
    }
    // What any replica stored (one reading alongside may have found more), not this one's count.
    await this.floors.load();
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

  /**
   * Reconciles every deferred invitation, forgetting each once reconciled; one that fails stays (its reason in
   * `failed`) and the others go on. Undefined when shutdown stopped it.
   */
  private async drain(): Promise<{ reconciled: number; failed: string[] } | undefined> {
    let reconciled = 0;
    const failed: string[] = [];
    let after: string | undefined;
    for (;;) {
      if (this.work.stopRequested) return undefined;
      const batch = await this.gate.deferredAfter(after, DRAIN_BATCH);
      if (batch.length === 0) return { reconciled, failed };
      for (let i = 0; i < batch.length; i += RECONCILED_AT_ONCE) {
        // As many at once as ReconcileInvitation.executeAll, each on its own: one that fails holds up none of the others.
        const group = batch.slice(i, i + RECONCILED_AT_ONCE);
        // In the trace of the event that put it off; one put off outside any keeps the run's (Trace.job).
        const outcomes = await Promise.allSettled(
          group.map((entry) => (entry.trace ? Trace.run(entry.trace, () => this.reconcile.execute(entry._id)) : this.reconcile.execute(entry._id))),
        );
        const done = group.filter((entry, j) => {
          const outcome = outcomes[j];
          if (outcome.status === 'fulfilled') return true;
          failed.push(`${entry._id}: ${(outcome.reason as Error).message}`);
          return false;
        });
        await this.gate.forget(done);
        reconciled += done.length;
      }
      after = batch[batch.length - 1]._id;
    }
  }

  /** An admin client for `use`, given up (Stopping) as soon as shutdown begins: a broker not answering would hold it for its retries. */
  private async withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    try {
      // Given up, a connection still being retried may succeed later: it is not used then, and is closed again.
      const using = admin.connect().then(async () => {
        try {
          if (this.work.stopRequested) throw new Stopping('shutting down');
          return await use(admin);
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      });
      using.catch(() => undefined); // given up: its failure is nobody's
      return await Promise.race([
        using,
        this.stopped.then(() => {
          throw new Stopping('shutting down');
        }),
      ]);
    } finally {
      // Also after a connection that failed, or is still being tried (what it opened so far).
      await admin.disconnect().catch(() => undefined);
    }
  }
}
