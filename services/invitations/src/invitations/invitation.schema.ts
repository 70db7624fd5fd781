import { outboxPlugin } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

/**
 * ISSUED: delivered to at least one Incentives admin. AWAITING_ADMIN: the location had no Incentives admin (at first,
 * or again once every admin it reached left); the company admins were asked to assign one. REVOKED: the location lost
 * eligibility before enrolling. ENROLLED: the location enrolled (from enrollment events); it is never revoked nor
 * delivered again from then on.
 */
export const InvitationStates = ['AWAITING_ADMIN', 'ISSUED', 'REVOKED', 'ENROLLED'] as const;
export type InvitationState = (typeof InvitationStates)[number];

/** One addressee of an invitation and the state of their home-page notice. */
@Schema({ _id: false })
export class InvitationRecipient {
  @Prop({ required: true }) userId!: string;
  @Prop({ required: true }) email!: string;
  @Prop({ required: true }) displayName!: string;
  @Prop({ required: true }) deliveredAt!: Date;
  /** When this recipient selected their notice; never listed to them again after that. */
  @Prop({ type: Date }) selectedAt?: Date;
}
const InvitationRecipientSchema = SchemaFactory.createForClass(InvitationRecipient);

/**
 * One invitation per (program, location, fiscal year), with a deterministic id. The document holds its state,
 * its recipients and their notices, and its outbox: every change and the events it causes are one write,
 * guarded by `version` (optimistic concurrency), since FerretDB has no transactions.
 */
@Schema({ collection: 'invitations', versionKey: false, timestamps: true })
export class Invitation {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) programId!: string;
  @Prop() programName?: string;
  @Prop({ required: true }) partnerId!: string;
  @Prop({ required: true }) locationId!: string;
  @Prop({ required: true }) fiscalYear!: string;
  @Prop({ required: true, type: String, enum: InvitationStates }) state!: InvitationState;
  /** 1 for the first issue; +1 each time a revoked invitation is issued again. */
  @Prop({ required: true }) cycle!: number;
  @Prop({ type: [InvitationRecipientSchema], default: [] }) recipients!: InvitationRecipient[];
  /** userIds whose notice is not selected yet: a plain string array every server can query with equality. */
  @Prop({ type: [String], default: [] }) pendingNotices!: string[];
  @Prop({ required: true }) getStartedUrl!: string;
  /** Why it was revoked (from the ineligible decision). */
  @Prop({ type: [String], default: [] }) reasons!: string[];
  @Prop({ type: Date }) issuedAt?: Date;
  @Prop({ type: Date }) awaitingAdminSince?: Date;
  /**
   * AWAITING_ADMIN, and no Global or Account admin of the partner was known to ask yet (the decision came before
   * identity's events): AdminAssignmentRequested goes out once one is (DeliverToLateAdmins, ReconcileInvitation).
   */
  @Prop() adminRequestPending?: boolean;
  /**
   * AWAITING_ADMIN: the Global and Account admins asked to assign an Incentives admin in this wait (userIds). One who
   * becomes a company admin of the partner while it waits is asked too, by a request naming them alone (SPEC
   * Invitations 3: every Global and Account admin is told). Absent on a wait that began before it was recorded:
   * nobody is asked late then. Gone once the wait ends.
   */
  @Prop({ type: [String], default: undefined }) askedAdmins?: string[];
  /**
   * How many times in this cycle every Incentives admin of the ISSUED invitation left (role revoked, user
   * deactivated), so that it waited again: part of the ids of the AdminAssignmentRequested and InvitationDelivered
   * events that follow, distinct from the cycle's first request. Absent until it happens; reset by a new cycle.
   */
  @Prop() adminsLeft?: number;
  /**
   * How many times this cycle was revoked: more than once only when it was marked ENROLLED after a revocation (the
   * enrollment's events came late) and that completion was taken back. Part of the id of the InvitationRevoked after
   * the first, so that consumers do not skip it as the first one's copy. Absent until it happens; reset by a new cycle.
   */
  @Prop() revokedInCycle?: number;
  @Prop({ type: Date }) revokedAt?: Date;
  @Prop({ type: Date }) enrolledAt?: Date;
  @Prop({ required: true }) version!: number;
  createdAt?: Date;
  updatedAt?: Date;
}

export const InvitationSchema = SchemaFactory.createForClass(Invitation);
InvitationSchema.plugin(outboxPlugin);
/** GET /v1/invitations and the overview: a partner's locations, in LIST_ORDER (a page read without a sort in memory). */
InvitationSchema.index({ partnerId: 1, locationId: 1, programId: 1, fiscalYear: 1, _id: 1 });
/** GET /v1/invitations?state=: a partner's invitations of some states in LIST_ORDER, not all of its invitations read. */
InvitationSchema.index({ partnerId: 1, state: 1, locationId: 1, programId: 1, fiscalYear: 1, _id: 1 });
/**
 * GET /v1/notices: a user's pending notices (multikey on pendingNotices) of each program taking enrollments in its
 * current year (one `$or` branch each: MongoDB merges the branches' index order), in NOTICE_ORDER. The stale ones of
 * programs closed or years past are not examined. (It replaced `{ pendingNotices, issuedAt, _id }`, which a deployment
 * may drop.)
 */
InvitationSchema.index({ pendingNotices: 1, programId: 1, fiscalYear: 1, issuedAt: -1, _id: 1 });
/** The waiting invitations of a partner whose company admins were not asked yet (a company admin becomes known). */
InvitationSchema.index({ partnerId: 1, adminRequestPending: 1 });
/**
 * A partner's ISSUED (or waiting) invitations of the current fiscal years, in _id order (issuedIn, deliverableTo for all
 * its locations: a `*` admin gone or given the role). Past years' are not examined. (It replaced `{ partnerId, state,
 * _id }`, which a deployment may drop.)
 */
InvitationSchema.index({ partnerId: 1, state: 1, fiscalYear: 1, _id: 1 });
