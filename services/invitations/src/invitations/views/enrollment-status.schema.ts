import { REVISION_GUARD_INDEX } from '@lib/messaging';
import { EnrollmentStatus, EnrollmentStatuses } from '@lib/contracts';
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
   * ENROLLED once (an event had it as `status` or `previousStatus`), whatever it is now: the enrollment service's
   * "completed" (`enrolledAt`), which the rollover continues into the next fiscal year. Set by any such event, also
   * one older than the kept status, and never unset.
   */
  @Prop() completed?: boolean;
  /** Made by the fiscal-year rollover continuing the previous year's enrollment (an event carried `fromFiscalYear`). */
  @Prop() continued?: boolean;
}

export const EnrollmentStatusViewSchema = SchemaFactory.createForClass(EnrollmentStatusView);
EnrollmentStatusViewSchema.index(...REVISION_GUARD_INDEX);
EnrollmentStatusViewSchema.index({ partnerId: 1, locationId: 1 });
