import { outboxPlugin, TraceContext } from '@lib/messaging';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

@Schema({ _id: false, versionKey: false })
export class Location {
  @Prop({ required: true }) locationId!: string;
  /** ISO 3166-1 alpha-2, upper case. */
  @Prop({ required: true }) country!: string;
  @Prop({ required: true }) legalName!: string;
}
export const LocationSchema = SchemaFactory.createForClass(Location);

/** The first Global admin, until its user document is written (bootstrap spans two documents). */
@Schema({ _id: false, versionKey: false })
export class PendingAdmin {
  @Prop({ required: true }) userId!: string;
  @Prop({ required: true }) email!: string;
  @Prop({ required: true }) displayName!: string;
  /**
   * The registration's correlation and request ids: the sweep that finishes it after a crash writes its first admin's
   * UserCreated under them, as the request would have, not under its own run's.
   */
  @Prop({ type: Object }) trace?: TraceContext;
}
export const PendingAdminSchema = SchemaFactory.createForClass(PendingAdmin);

/**
 * Held while a request may remove one of the partner's active Global admins (see GlobalAdminKeeper), so that two
 * such requests never both count the other admin as the one that stays. `until` bounds a holder that crashed.
 */
@Schema({ _id: false, versionKey: false })
export class GlobalAdminChange {
  @Prop({ required: true }) token!: string;
  @Prop({ required: true }) until!: Date;
}
export const GlobalAdminChangeSchema = SchemaFactory.createForClass(GlobalAdminChange);

/**
 * A partner (global account) with its locations: one document, so a location and its LocationAdded event are one
 * write, and role assignment reads the partner's locations from one place. Locations are never removed.
 */
@Schema({ collection: 'partners', versionKey: false, timestamps: true })
export class Partner {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true }) name!: string;
  @Prop({ type: [LocationSchema], default: [] }) locations!: Location[];
  @Prop({ type: PendingAdminSchema, required: false }) pendingAdmin?: PendingAdmin;
  /** The first Global admin's user id, kept once the registration is complete (a retried registration's answer). */
  @Prop() firstAdminUserId?: string;
  /** The fingerprint of the registration request under an Idempotency-Key, which tells its retry from another request. */
  @Prop() createdByRequest?: string;
  @Prop({ type: GlobalAdminChangeSchema, required: false }) globalAdminChange?: GlobalAdminChange;
  @Prop({ required: true, default: 1 }) version!: number;
  createdAt!: Date;
  updatedAt!: Date;
}
export const PartnerSchema = SchemaFactory.createForClass(Partner);
PartnerSchema.plugin(outboxPlugin);
/** Which partner lists a location (the claim sweep, for claims not marked listed yet). */
PartnerSchema.index({ 'locations.locationId': 1 });
/**
 * A registration not finished (its first Global admin not written yet): `{ $exists: true }` would match what a
 * partial index holds, which FerretDB does not build; a string above '' is every user id, and an index on the field
 * serves it on every server (as PENDING_OUTBOX). The sweep reads these at start and every CLAIM_GRACE_MS.
 */
export const PENDING_ADMIN = { 'pendingAdmin.userId': { $gt: '' } } as const;
PartnerSchema.index({ 'pendingAdmin.userId': 1 });

/**
 * One document per location id, platform-wide: the unique `_id` is what keeps a location id from being
 * registered by two partners (the partner document is written after its claims).
 *
 * `claimedAt`/`claimedBy` say when and by which request the claim was last taken (or taken over by an identical
 * request of the same partner): a request gives back only claims still carrying its own `claimedBy`, and the sweep
 * removes only a claim that no partner document lists and that nobody took for a grace period (a registration that
 * crashed between the claim and the partner write). `listed` is set once a partner document lists the location;
 * such a claim is never removed. Claims written before these fields existed lack them (the sweep fills them in).
 */
@Schema({ collection: 'location_claims', versionKey: false })
export class LocationClaim {
  @Prop({ type: String }) _id!: string;
  @Prop({ required: true, index: true }) partnerId!: string;
  @Prop({ type: Date, required: false }) claimedAt?: Date;
  @Prop({ type: String, required: false }) claimedBy?: string;
  @Prop({ type: Boolean, required: false }) listed?: boolean;
}
export const LocationClaimSchema = SchemaFactory.createForClass(LocationClaim);
/** The sweep's claims not marked listed yet (`listed: { $ne: true }`): a few, among every location's claim. */
LocationClaimSchema.index({ listed: 1 });
