import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * How far a periodic job has got, kept across restarts: FollowExpiredTaxProfiles' `upTo` (one document); the program
 * revision whose payout rules FollowSubmitted last followed a program's ENROLLED enrollments under (one per program).
 */
@Schema({ collection: 'job_marks', versionKey: false })
export class JobMark {
  @Prop({ type: String }) _id!: string;
  @Prop() upTo?: Date;
  @Prop() revision?: number;
}
export const JobMarkSchema = SchemaFactory.createForClass(JobMark);
