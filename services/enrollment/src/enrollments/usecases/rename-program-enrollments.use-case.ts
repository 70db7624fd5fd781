import { Injectable } from '@nestjs/common';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { EnrollmentsRepository } from '../enrollments.repository';

/** Rounds of write-then-read before giving up on a name that keeps changing (the next rename's handling writes it). */
const ROUNDS = 5;

/**
 * A renamed program's enrollments take the catalog's name as it is now (not an event's: a replay of older events would
 * name them by a name the program no longer has), read again after the write until it is the one written: a handling
 * of an earlier rename that read its name before a later rename and wrote after that one's handling (a consumer that
 * lost its partitions, still running; a rollover's batch) would otherwise leave the earlier name. Whoever writes last
 * reads the catalog after its write.
 */
@Injectable()
export class RenameProgramEnrollments {
  constructor(
    private readonly programs: ReadPrograms,
    private readonly enrollments: EnrollmentsRepository,
  ) {}

  /**
   * `revision`: the ProgramUpdated's. One of a revision after the program's last rename (`nameChangedAt`) reads no
   * enrollment: that rename's own event, before it on the program's partition, renamed them (a payout-rules or state
   * change, a redelivery, a replay of the topic, would otherwise read every enrollment of the program, of every year).
   * A program with no `nameChangedAt` (renamed before it was recorded, or never), or whose name is not the one that
   * revision gave it (`nameChangedTo`: renamed since by a release that does not record it), is renamed as before: a
   * no-op write at most. One recorded before `nameChangedTo` was is taken at its `nameChangedAt`.
   */
  async execute(programId: string, revision?: number): Promise<void> {
    const program = await this.programs.find(programId);
    const namedAt = program?.nameChangedTo === undefined || program.nameChangedTo === program.name ? program?.nameChangedAt : undefined;
    if (revision !== undefined && namedAt !== undefined && namedAt < revision) return;
    let name = program?.name;
    for (let round = 0; name !== undefined && round < ROUNDS; round++) {
      await this.enrollments.renameProgram(programId, name);
      const now = (await this.programs.find(programId))?.name;
      if (now === name) return;
      name = now;
    }
  }
}
