import { deterministicId, isUuid, ProfileKind, ProfileStatus, ProfileStatusLabels, ValidationOutcome } from '@lib/contracts';
import { IdempotentRequest } from '@lib/platform';
import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { createHash, randomUUID } from 'node:crypto';
import type { ValidationRecordDto } from './dto/validation-record.dto';
import { publicReasons } from '../secrets/masking';

/** A sealed secret as stored (see SecretBox): never the clear value. */
@Schema({ _id: false })
export class SealedSecretDoc {
  @Prop({ required: true }) keyId!: string;
  @Prop({ required: true }) iv!: string;
  @Prop({ required: true }) tag!: string;
  @Prop({ required: true }) ciphertext!: string;
}
export const SealedSecretSchema = SchemaFactory.createForClass(SealedSecretDoc);

export const ValidationSources = ['BACK_OFFICE', 'OPERATOR'] as const;
export type ValidationSource = (typeof ValidationSources)[number];

/**
 * What a validation result did to the profile. APPLIED: it decided the current revision. OUTDATED: it was for
 * an older revision, kept for the record. ALREADY_DECIDED: the revision had a different decision already; the
 * first decision of a revision stands (a new decision needs a new revision); also the same ACTION_REQUIRED with reasons
 * it did not give. CONFIRMED: the revision had the same outcome already and this says nothing new (an approval with
 * a note, or some of the reasons already given): not a conflict.
 */
export const ValidationEffects = ['APPLIED', 'OUTDATED', 'ALREADY_DECIDED', 'CONFIRMED'] as const;
export type ValidationEffect = (typeof ValidationEffects)[number];

@Schema({ _id: false })
export class ValidationRecord {
  @Prop({ required: true }) revision!: number;
  @Prop({ required: true, type: String }) outcome!: ValidationOutcome;
  @Prop({ type: [String], default: [] }) reasons!: string[];
  @Prop({ required: true, type: String }) source!: ValidationSource;
  @Prop({ type: String }) eventId?: string;
  @Prop({ required: true, type: String }) effect!: ValidationEffect;
  @Prop({ required: true }) receivedAt!: Date;
}
export const ValidationRecordSchema = SchemaFactory.createForClass(ValidationRecord);

/** Fields every profile (bank or tax) has: its validation state and history, and its concurrency version. */
export interface ProfileState {
  _id: string;
  partnerId: string;
  status: ProfileStatus;
  reasons: string[];
  /** Bumped by every change of the profile's details: each revision is validated on its own. */
  revision: number;
  /** Bumped by every write (details or validation state): the ETag for If-Match. */
  version: number;
  validationHistory: ValidationRecord[];
  /** `revision:outcome:<digest of the sorted reasons>` (decisionKey) of every result recorded, so a duplicated result changes nothing. */
  decisionKeys: string[];
  createdAt?: Date;
  updatedAt?: Date;
}

/**
 * The result's key: its reasons in any order, each apart (one reason `A|B` is not the two reasons `A` and `B`), as a
 * digest: 50 reasons of 1,000 characters would make every key 100 KB or more, stored beside the history's own copy.
 * Keys stored before were the reasons' JSON; a result recorded then is also found by its history record.
 */
export function decisionKey(revision: number, outcome: ValidationOutcome, reasons: string[]): string {
  return `${revision}:${outcome}:${createHash('sha256').update(JSON.stringify([...reasons].sort())).digest('base64url')}`;
}


export function statusView(profile: Pick<ProfileState, 'status' | 'reasons' | 'revision' | 'version'>) {
  return {
    status: profile.status,
    statusLabel: ProfileStatusLabels[profile.status],
    reasons: publicReasons(profile.reasons),
    revision: profile.revision,
    version: profile.version,
  };
}

export function historyView(history: ValidationRecord[] = []): ValidationRecordDto[] {
  return history.map(({ revision, outcome, reasons, source, effect, receivedAt }) => ({
    revision,
    outcome,
    reasons: publicReasons(reasons),
    source,
    effect,
    receivedAt,
  }));
}

/**
 * The id of the profile a creating request makes: derived from the caller, the request's target and its
 * Idempotency-Key when it sent one, so that a retry of a create whose answer was lost (a crash after the write, before
 * the answer was stored for the key) finds the profile it made and answers it, instead of 409 (its own name taken, its
 * location's tax profile there already). Random without a key.
 */
export function createdProfileId(kind: ProfileKind, caller: { partnerId: string; userId: string }, target: string, idempotency?: IdempotentRequest): string {
  return idempotency ? deterministicId('create', kind, caller.partnerId, caller.userId, target, idempotency.key) : randomUUID();
}

/**
 * A profile id as stored, from one an outside system names: profile ids are UUIDs the platform made, lower-case, and a
 * back office may echo them upper-cased (SQL Server's uniqueidentifier).
 */
export function storedProfileId(profileId: string): string {
  return isUuid(profileId) ? profileId.toLowerCase() : profileId;
}

export function detailsPath(profileId: string): string {
  return `/v1/operator/profiles/${profileId}`;
}

export type { ProfileKind };
