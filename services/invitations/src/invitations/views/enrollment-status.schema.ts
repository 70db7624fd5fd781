import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { EnrollmentStatus, EnrollmentStatuses, LogPosition } from '@lib/contracts';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/** Enrollment status per (program, location, fiscal year), same id as the invitation (highest revision wins). */
@Schema({ collection: 'enrollment_statuses', versionKey: false })
export class EnrollmentStatusView {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) enrollmentId!: string;
  @Prop({ required: true }) programId!: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) locationId!: string;
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ required: true, type: String, enum: EnrollmentStatuses }) status!: EnrollmentStatus;
  @Prop({ required: true }) revision!: number;
  /**
   * Completed in its fiscal year (the enrollment service's `enrolledAt`: ENROLLED once, also when a profile edit or a
   * rejection sent it back since), which the rollover continues into the next fiscal year: as the event of the highest
   * revision says it (`completedStated`). Events of a producer that predates that field: ENROLLED in `status` or
   * `previousStatus` marks it, also from one older than the kept status, unless an event stated it (a newer stated
   * value replaces it).
   */
  @Prop() completed?: boolean;
  /** `completed` was said by an event (EnrollmentEvent.completed), not inferred: older events no longer set it. */
  @Prop() completedStated?: boolean;
  /**
   * Made by the fiscal-year rollover continuing the previous year's enrollment (an event carried `fromFiscalYear`), and
   * not started again by Enroll since (`notContinuedFrom`: the revision that told it; older events do not set it back).
   */
  @Prop() continued?: boolean;
  @Prop() notContinuedFrom?: number;
  /**
   * Made by the rollover (an event carried `fromFiscalYear`), whatever became of it since (ended, started again by
   * Enroll): the enrollment of the year before was rolled over, and Enroll answers that one as it is.
   */
  @Prop() madeByRollover?: boolean;
  /**
   * Enroll has started it (the enrollment service's `evaluatedAt`, never unset there): an EnrollmentStarted, or any
   * event of a status only a started enrollment reaches, or a continuation; from any event, whatever its revision.
   * Its label to viewers other than the admin reads it (enrollmentStatusLabel: "Enrolling" while INVITED, started).
   */
  @Prop() started?: boolean;
  /**
   * INELIGIBLE: the eligibility decision its event names as the one that ended it (EnrollmentIneligible.decision; null:
   * none named). An eligible decision not later than it does not invite again (ViewsRepository.recordEnrollment).
   */
  @Prop({ type: Object }) endedBy?: { eventId: string; decidedAt: Date; position?: LogPosition } | null;
}

export const EnrollmentStatusViewSchema = SchemaFactory.createForClass(EnrollmentStatusView);
EnrollmentStatusViewSchema.index(...REVISION_GUARD_INDEX);
EnrollmentStatusViewSchema.index({ partnerId: 1, locationId: 1 });
