import { EnrollmentStatus } from '@lib/contracts';
import { pushOutbox } from '@lib/messaging';
import { CONFIG, Problems } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { bulkWriteChunked } from '../../common/bulk';
import type { EnrollmentConfig } from '../../config';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentEvents } from '../enrollment-events';
import { EnrollmentsRepository } from '../enrollments.repository';

const ACTIVE: EnrollmentStatus[] = ['INVITED', 'ACTION_REQUIRED', 'VALIDATING', 'ENROLLED'];
const PAGE = 500;
const MAX_ROUNDS = 10_000;
const ATTEMPTS = 8;

/**
 * A discontinued program ends its enrollments: every one not yet ended becomes DISCONTINUED
 * (EnrollmentDiscontinued), page by page, each a guarded write with its event. Runs when this service consumes
 * its own ProgramUpdated, so a crash halfway is finished by the redelivery; done enrollments are not selected again.
 */
@Injectable()
export class DiscontinueProgramEnrollments {
  private readonly logger = new Logger(DiscontinueProgramEnrollments.name);

  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly events: EnrollmentEvents,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  /**
   * `discontinuedAt`: when the program was discontinued (its ProgramUpdated's occurredAt), which the events carry
   * (`discontinuedAt`): the sweep may run later (its consumer behind), past the year's end, and an enrollment
   * discontinued within its year is told so (the notification service tells none of a year over when it was
   * discontinued: the rollover continued it). The events themselves are dated when written, as any: one dated back
   * would be too old to notify anyone after a long lag or a dead letter replayed days later.
   */
  async execute(programId: string, programName: string, heartbeat?: () => Promise<void>, discontinuedAt?: Date): Promise<number> {
    let done = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const page = await this.enrollments.ofProgramIn(programId, ACTIVE, PAGE);
      if (page.length === 0) break;
      const now = new Date();
      const operations = page.map((current: Enrollment) => {
        const { changes, event } = this.transition(current, programName, discontinuedAt);
        return {
          updateOne: {
            filter: { _id: current._id, version: current.version },
            update: { $set: { ...changes, version: current.version + 1, updatedAt: now }, $push: pushOutbox([event]) },
          },
        };
      });
      const outcome = await this.enrollments.withOutbox(
        page.map((e) => e._id),
        () => bulkWriteChunked(this.enrollments.model.collection as never, operations as never, this.config.BULK_WRITE_CHUNK),
      );
      done += outcome.modified;
      this.events.committed();
      await heartbeat?.();
    }
    if (done) this.logger.log(`program ${programId} discontinued: ${done} enrollment(s) discontinued`);
    return done;
  }

  /**
   * One enrollment of a discontinued program, as the sweep ends it: for an Enroll that read the program OPEN before
   * the discontinuation and wrote after the sweep (which runs once per ProgramUpdated) had found nothing to end.
   * One guarded write with the event, decided again from a fresh read when it changed meanwhile. Returns the
   * enrollment as it now is.
   */
  async endOne(enrollmentId: string, programName: string, discontinuedAt?: Date): Promise<Enrollment | null> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const current = await this.enrollments.findById(enrollmentId);
      if (!current || !ACTIVE.includes(current.status)) return current;
      const { changes, event } = this.transition(current, programName, discontinuedAt);
      const written = await this.enrollments.update(current, changes, [event]);
      if (written) {
        this.events.committed();
        return written;
      }
    }
    throw Problems.busy(`Enrollment ${enrollmentId} kept changing while it was discontinued; try again.`);
  }

  private transition(current: Enrollment, programName: string, discontinuedAt?: Date) {
    // The name the reason gives is the one the event carries (an enrollment not renamed yet: see onProgram).
    const changes = { status: 'DISCONTINUED' as const, programName, reasons: [`The program ${programName} was discontinued.`], missing: [] };
    const next = { ...current, ...changes, version: current.version + 1 };
    const extra = discontinuedAt ? { discontinuedAt: new Date(discontinuedAt).toISOString() } : {};
    return { changes, event: this.events.event('EnrollmentDiscontinued', next, { previousStatus: current.status, extra }) };
  }
}
