import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/** How far a periodic job has got, kept across restarts (one document per job): FollowExpiredTaxProfiles' `upTo`. */
@Schema({ collection: 'job_marks', versionKey: false })
export class JobMark {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) upTo!: Date;
}
export const JobMarkSchema = SchemaFactory.createForClass(JobMark);
