import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsDefined, IsInt, IsObject, IsOptional, IsString, IsUrl, Min, ValidateNested, isURL } from 'class-validator';
import { IsFiscalYear } from '../fiscal-year';
import { DecisionRef, KnownWhenPublished, Recipient } from './common';

/**
 * What a link in an event must be: an http(s) URL with a host (no top-level domain needed: `localhost`, a cluster
 * service name). Notification opens it in emails and inbox entries, which take nothing else.
 */
export const LINK_URL_OPTIONS = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

/** Whether `value` is a link the contract accepts (LINK_URL_OPTIONS): a producer checks its base URL with it at start. */
export const isLinkUrl = (value: string): boolean => isURL(value, LINK_URL_OPTIONS);

export const DeliveryChannels = ['EMAIL', 'NOTICE'] as const;
export type DeliveryChannel = (typeof DeliveryChannels)[number];

/** invitations.events.v1, key locationId. */
export class InvitationEvent {
  @IsString() invitationId!: string;
  @IsString() programId!: string;
  @IsOptional() @IsString() programName?: string;
  @IsString() partnerId!: string;
  @IsString() locationId!: string;
  @IsFiscalYear() fiscalYear!: string;
  /**
   * The invitation's version after the change this event tells (every change of an invitation is one write that
   * raises it by one): the events of one invitation are ordered by it, whichever instance wrote them and whatever its
   * clock said. Absent from events written before it existed: order those by `occurredAt`.
   */
  @IsOptional() @IsInt() @Min(1) invitationVersion?: number;
}

export class InvitationIssued extends InvitationEvent {
  @IsDefined() @IsArray() @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => Recipient) recipients!: Recipient[];
  /**
   * The revision of the program (programs.events.v1) the invitations service decided by (also on InvitationDelivered
   * and AdminAssignmentRequested, the events that deliver or ask): a reader holding a later revision that closed the
   * program knows it closed after the decision; one holding that revision or an earlier one is behind. Absent from
   * events written before it existed.
   */
  @IsOptional() @IsInt() @Min(1) programRevision?: number;
  /** Channels of DeliveryChannels; one a later invitations added is taken as named, and asked of nobody here. */
  @IsArray() @KnownWhenPublished(DeliveryChannels, { each: true }) channels!: Array<DeliveryChannel | (string & {})>;
  @IsUrl(LINK_URL_OPTIONS) getStartedUrl!: string;
  /** Open programs are shown on the overview only: no email. */
  @IsBoolean() requiresEligibility!: boolean;
}

/** A late Incentives admin receives an invitation issued before they held the role. */
export class InvitationDelivered extends InvitationIssued {}

/**
 * No Incentives admin on the location: Global and Account admins are asked to assign one (`recipients`); one appointed
 * while the invitation waits is asked by a request naming them alone (`late`).
 */
export class AdminAssignmentRequested extends InvitationEvent {
  @IsDefined() @IsArray() @IsObject({ each: true }) @ValidateNested({ each: true }) @Type(() => Recipient) recipients!: Recipient[];
  /** The program's revision the invitations service decided by (see InvitationIssued). */
  @IsOptional() @IsInt() @Min(1) programRevision?: number;
  /**
   * True for a request to company admins appointed while the invitation waits, the others having been asked before:
   * tell the named ones only (nobody else, even when they cannot be told). Absent on the wait's first request.
   */
  @IsOptional() @IsBoolean() late?: boolean;
}

export class NoticeSelected extends InvitationEvent {
  @IsString() userId!: string;
}

export class InvitationRevoked extends InvitationEvent {
  /** Why: the eligibility decision's reasons, or a general one when it gave none (ineligibleReasons). */
  @IsArray() @IsString({ each: true }) reasons: string[] = [];
  /**
   * The not-eligible decision behind the revocation, as the invitations service read it (absent from a producer
   * before it). The revocation is made when that service consumes it, which may be well after it was decided: a
   * consumer holding an eligible decision made after this one (the location eligible again) leaves the revocation.
   */
  @IsOptional() @IsObject() @ValidateNested() @Type(() => DecisionRef) decision?: DecisionRef;
}

export const InvitationEventTypes = {
  InvitationIssued,
  InvitationDelivered,
  AdminAssignmentRequested,
  NoticeSelected,
  InvitationRevoked,
} as const;
