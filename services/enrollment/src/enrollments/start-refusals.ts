import { ProblemException, Problems } from '@lib/platform';
import { HttpStatus } from '@nestjs/common';
import { Program } from '../programs/program.schema';
import { Enrollment } from './enrollment.schema';

/** 409 `program-not-open` (with `programState`) for an enrollment the program's state does not allow to start (Enroll) or to go on (Submit). */
export function programNotOpen(program: Pick<Program, '_id' | 'state'>): ProblemException {
  return new ProblemException(
    HttpStatus.CONFLICT,
    'program-not-open',
    'Program not open',
    program.state === 'CLOSED' ? `Program ${program._id} is closed to new enrollments.` : `Program ${program._id} is discontinued.`,
    { programState: program.state },
  );
}

/**
 * 422 `agreement-inactive`: the partner's agreement is not active (agreements.status.v1), so no enrollment starts or is
 * submitted: the fiscal-year rollover would not continue it either (SPEC 1, Enrollment 6), and one it expired for that
 * would otherwise be enrolled again at once from the next year's invitation.
 */
export function agreementInactive(partnerId: string): ProblemException {
  return new ProblemException(
    HttpStatus.UNPROCESSABLE_ENTITY,
    'agreement-inactive',
    'Agreement not active',
    `The agreement of partner ${partnerId} is not active: enrollments can start and be submitted again once it is.`,
  );
}

/** 422 `location-not-eligible`, with the decision's reasons. */
export function locationNotEligible(programId: string, fiscalYear: string, locationId: string, reasons: string[] = []): ProblemException {
  return new ProblemException(
    HttpStatus.UNPROCESSABLE_ENTITY,
    'location-not-eligible',
    'Location not eligible',
    `Location ${locationId} is not eligible for program ${programId} in ${fiscalYear}.`,
    { reasons },
  );
}

/** 409 for starting an enrollment of a fiscal year its program no longer enrolls in. */
export function programMovedOn(enrollment: Pick<Enrollment, 'fiscalYear' | 'status'>, program: Pick<Program, '_id' | 'fiscalYear'>): ProblemException {
  return Problems.conflict(
    `This enrollment is for ${enrollment.fiscalYear}; program ${program._id} now enrolls in ${program.fiscalYear}, so it cannot be started: ` +
      `enroll the location for ${program.fiscalYear} (POST /v1/enrollments).`,
    { enrollmentStatus: enrollment.status, fiscalYear: enrollment.fiscalYear, programFiscalYear: program.fiscalYear },
  );
}
