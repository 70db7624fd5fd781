import { EnrollmentStatus, EnrollmentStatuses } from '@lib/contracts';
import { outboxPlugin } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/** What happened to an ENROLLED enrollment at the end of its fiscal year. */
export const RolloverOutcomes = ['RENEWED', 'VALIDATING', 'ACTION_REQUIRED', 'EXPIRED', 'SUPERSEDED'] as const;
export type RolloverOutcome = (typeof RolloverOutcomes)[number];

@Schema({ _id: false })
export class RolloverRecord {
  @Prop({ required: true }) toFiscalYear!: string;
  @Prop({ required: true, type: String, enum: RolloverOutcomes }) outcome!: RolloverOutcome;
  @Prop({ required: true }) at!: Date;
  /**
   * Made by a run before the year was over (an operator's early run): the run once it is over decides it again
   * (ReviewEarlyRenewals) and removes the flag.
   */
  @Prop() early?: boolean;
}
const RolloverRecordSchema = SchemaFactory.createForClass(RolloverRecord);

/** The profile revisions an enrollment was validated with (ENROLLED). */
@Schema({ _id: false })
export class ValidatedRevisions {
  @Prop() bank?: number;
  @Prop() tax?: number;
}
const ValidatedRevisionsSchema = SchemaFactory.createForClass(ValidatedRevisions);

/**
 * One enrollment per (program, location, fiscal year), with a deterministic id. Two phases:
 *  - proposal (no `submittedAt`): INVITED (nothing missing, next action Submit; or only invited so far) or
 *    ACTION_REQUIRED (something missing, next action Continue);
 *  - submitted: VALIDATING, ENROLLED, or ACTION_REQUIRED (a profile in use was rejected or no longer fits), following
 *    the validation of the chosen bank and tax profiles.
 * Terminal: INELIGIBLE, DISCONTINUED, EXPIRED. Every change is one write guarded by `version`, with its events in
 * the document's outbox.
 */
@Schema({ collection: 'enrollments', versionKey: false })
export class Enrollment {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) programId!: string;
  @Prop() programName?: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) locationId!: string;
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ required: true, type: String, enum: EnrollmentStatuses }) status!: EnrollmentStatus;
  @Prop({ type: [String], default: [] }) reasons!: string[];
  @Prop({ type: [String], default: [] }) missing!: string[];
  /** The proposal: the location's default bank profile unless the admin chose another (`bankChosen`). */
  @Prop() bankProfileId?: string;
  @Prop() taxProfileId?: string;
  @Prop({ default: false }) bankChosen!: boolean;
  /**
   * The bank profile it kept (chosen, or in use since Submit) was withdrawn because it no longer serves the location
   * (WithdrawBankChoice, or the rollover's continuation of such an enrollment): `bankProfileId` is left only to show
   * which profile it was. Nothing goes on with it: Submit refuses (409 `bank-profile-not-serving`, Continue first),
   * the rollover does not renew with it (even if the profile serves the location again since), and Continue, which
   * proposes the location's default (or another choice), clears it.
   */
  @Prop() bankWithdrawn?: boolean;
  /**
   * The Enroll under an Idempotency-Key that wrote it (its IdempotentRequest fingerprint) and the version that write
   * made. While the enrollment is still at that version (nothing written since, by anyone), that request's retry whose
   * stored answer is gone (a crash between the write and the answer's store) meets its own write: If-Match's version is
   * then the one it read before it, not a change by someone else (see EnrollLocation); `started`: that write started the
   * enrollment (its retry is answered 201, as it was).
   */
  @Prop({ type: Object }) lastRequest?: { fingerprint: string; version: number; started?: boolean };
  /** Set by the first Enroll (or Continue); absent while the record only reflects an invitation. */
  @Prop() evaluatedAt?: Date;
  @Prop() startedAt?: Date;
  @Prop() startedBy?: string;
  @Prop() submittedAt?: Date;
  @Prop() submittedBy?: string;
  @Prop() enrolledAt?: Date;
  @Prop({ type: ValidatedRevisionsSchema }) validated?: ValidatedRevisions;
  @Prop() invitationId?: string;
  /**
   * The highest version of its invitation this service has recorded issued (InvitationIssued.invitationVersion): a
   * revocation of an earlier version is older than what it knows (RecordInvitationRevocation). No version of its own.
   */
  @Prop() invitationVersion?: number;
  /** The enrollment of the previous fiscal year this one continues. */
  @Prop() renewedFrom?: string;
  /** A continuation's outcome as the rollover decided it (its mark on the old enrollment, also for a rerun). */
  @Prop({ type: String, enum: RolloverOutcomes }) renewedAs?: RolloverOutcome;
  /**
   * A continuation an operator's early run made (before its year was over): decided again at year end
   * (ReviewEarlyRenewals), also when that run stopped before it marked the old enrollment `rollover.early` (the year-end
   * run, finding it, marks it so). The rollover's own, in neither the API nor the events.
   */
  @Prop() renewedEarly?: boolean;
  /**
   * A continuation the rollover made at year end on an earlier year's eligibility decision (none for its own year yet,
   * and the program requires eligibility): its year's first decision still counts (an early run's are decided again
   * at year end instead: ReviewEarlyRenewals). Ineligible, it ends the continuation
   * INELIGIBLE (MarkIneligible), also renewed; eligible, it clears this (RecordEligibilityDecision).
   */
  @Prop() eligibilityCarried?: boolean;
  /**
   * Set once by the rollover (the marker that it is done with this enrollment): continued into the next fiscal
   * year (RENEWED, ACTION_REQUIRED there), already enrolled there (SUPERSEDED), or EXPIRED.
   */
  @Prop({ type: RolloverRecordSchema }) rollover?: RolloverRecord;
  /**
   * The renewal reminders sent, by what they told (reminderMark: `FY27:NOT_COMPLETED`...), with their year alone (all a
   * release before these marked: alone, such a release's reminder).
   */
  @Prop({ type: [String], default: undefined }) renewalReminders?: string[];
  @Prop({ required: true }) version!: number;
  @Prop({ required: true }) createdAt!: Date;
  @Prop({ required: true }) updatedAt!: Date;
}

export const EnrollmentSchema = SchemaFactory.createForClass(Enrollment);
EnrollmentSchema.plugin(outboxPlugin);
// Guarded writes filter on exactly { _id, version }. MongoDB answers them from the _id index; mongo-java-server
// (the local server) uses an index only when a filter names exactly its fields, so it gets this one too.
EnrollmentSchema.index({ _id: 1, version: 1 }, { unique: true });
/** GET /v1/enrollments: a partner's locations in LIST_ORDER (a page read in order, no sort in memory); its prefix finds one. */
EnrollmentSchema.index({ partnerId: 1, locationId: 1, programId: 1, fiscalYear: 1, _id: 1 });
/**
 * The list filtered by status (`GET /v1/enrollments?status=`), in its order: for a company or `*` admin (every location
 * of the partner) the index above would fetch every enrollment of the partner to find those of one status.
 */
EnrollmentSchema.index({ partnerId: 1, status: 1, locationId: 1, programId: 1, fiscalYear: 1, _id: 1 });
/** The same for `?programId=` and `?fiscalYear=`: a program, or a year, among a partner's years of enrollments. */
EnrollmentSchema.index({ partnerId: 1, programId: 1, locationId: 1, fiscalYear: 1, _id: 1 });
EnrollmentSchema.index({ partnerId: 1, fiscalYear: 1, locationId: 1, programId: 1, _id: 1 });
/**
 * The renewal reminders' scan of a year (and the rollover's before PENDING_SCAN), pinned to this index (`hint`): keys no
 * write changes. On
 * MongoDB, a scan of { fiscalYear, status } (the index it replaced; nothing else read it) meets an enrollment at its
 * status, so one whose status changed while the scan ran (a profile approved: VALIDATING -> ENROLLED) could move behind
 * it and be skipped, or ahead and be read again.
 */
export const YEAR_SCAN = { fiscalYear: 1, _id: 1 } as const;
EnrollmentSchema.index(YEAR_SCAN);
/**
 * The rollover's scan of a year's enrollments not decided yet (no `rollover` record: `'rollover.outcome': null`), pinned
 * to this index: what it decides leaves the range as it is marked, none enters it behind the scan (a reopened one is
 * unmarked by the year-end review, before the scan starts, under the year's lease), and a status change moves nothing.
 * The daily run after a year's rollover is done reads only what is left (the enrollments it ended since, which stay
 * unmarked), not the whole year as a scan of YEAR_SCAN filtered by the marker did, on every replica, every day.
 */
export const PENDING_SCAN = { fiscalYear: 1, 'rollover.outcome': 1, _id: 1 } as const;
EnrollmentSchema.index(PENDING_SCAN);
/**
 * The year-end review of what an early run continued (ReviewEarlyRenewals): the year's enrollments flagged
 * `rollover.early`, a few among the year's, read from this index instead of a scan of the whole year (which the
 * rollover's own scan then reads again). The review only unsets the flag: an entry leaves the range, none enters it
 * behind the scan.
 */
export const EARLY_SCAN = { fiscalYear: 1, 'rollover.early': 1, _id: 1 } as const;
EnrollmentSchema.index(EARLY_SCAN);
/** A program's sweeps (discontinued, eligibility required, the submit follow-up): its enrollments of some statuses, a page at a time in `_id` order. */
EnrollmentSchema.index({ programId: 1, status: 1, _id: 1 });
EnrollmentSchema.index({ bankProfileId: 1 });
EnrollmentSchema.index({ taxProfileId: 1 });

