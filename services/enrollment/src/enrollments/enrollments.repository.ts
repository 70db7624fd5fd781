import { EnrollmentStatus, fiscalYearOf, fiscalYearOver, ProfileEvent } from '@lib/contracts';
import { Keyset, ProblemException, Problems } from '@lib/platform';
import { BatchLoader, bulkWriteBatcher, modelLoader, OutboxEntry, PendingOutboxes, pushOutbox } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { FilterQuery, Model } from 'mongoose';
import { Enrollment, RolloverRecord } from './enrollment.schema';
import { FOLLOWING_VALIDATION, TERMINAL } from './enrollment-rules';

/**
 * The enrollment as `EnrollmentsRepository.update` writes it: `changes` set, `unset` left out, version + 1. The events
 * written with it are made from this, so that they carry the enrollment as it is after the write.
 */
export function changedEnrollment(current: Enrollment, changes: EnrollmentChanges, unset: ReadonlyArray<keyof Enrollment> = [], updatedAt?: Date): Enrollment {
  const next: Enrollment = { ...current, ...changes, version: current.version + 1, ...(updatedAt && { updatedAt }) };
  for (const field of unset) delete (next as unknown as Record<string, unknown>)[field];
  return next;
}

/** The driver would store `undefined` as null: leave such fields out. */
export function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Whether the rollover is done with this enrollment: marked (continued, superseded or expired) and its fiscal year over.
 * An operator's early run marks the ones it continues while their year still runs: valid until it ends, they keep
 * following their profiles until then. Told from the enrollment's own year and `now` (no sweep at year end).
 */
export function rolledOver(e: Pick<Enrollment, 'rollover' | 'fiscalYear'>, now: Date): boolean {
  return e.rollover !== undefined && e.rollover !== null && fiscalYearOver(e.fiscalYear, now);
}

/**
 * 409 for Submit, or another bank profile chosen, on an enrollment the rollover marked: its continuation, the next
 * year's enrollment, is where the admin acts.
 */
export function continuedAlready(rollover: RolloverRecord, fiscalYear: string, now: Date, refused: string): ProblemException {
  const { outcome, toFiscalYear } = rollover;
  return Problems.conflict(
    rolledOver({ rollover, fiscalYear }, now)
      ? `This enrollment's fiscal year is over (${outcome} into ${toFiscalYear}).`
      : `This enrollment was continued into ${toFiscalYear} already (${outcome}, by an early rollover run): it follows its profiles until its year ends, but is not ${refused}; the ${toFiscalYear} enrollment is.`,
  );
}

/**
 * Whether an enrollment follows its profiles' events: a submitted one of the current cycle follows their validation;
 * a proposal keeping its admin's bank profile has it withdrawn once it no longer serves the location, and a started
 * proposal is evaluated again as Continue would (EnrollLocation.reevaluate: a profile rejected or expired since it was
 * proposed is missing); none once the rollover is done with it (rolledOver, at the Clock's `now`).
 */
export function watchesProfile(e: Enrollment, kind: 'BANK' | 'TAX', now: Date): boolean {
  if (rolledOver(e, now)) return false;
  if (e.submittedAt) return FOLLOWING_VALIDATION.includes(e.status);
  if (TERMINAL.includes(e.status)) return false;
  return e.evaluatedAt !== undefined || (kind === 'BANK' && e.bankChosen === true);
}

/**
 * The order of GET /v1/enrollments: by location, program and year (unique together, and the fields of the
 * { partnerId, locationId, programId, fiscalYear } index), then `_id`.
 */
export const LIST_ORDER = new Keyset<Enrollment>('enrollments', ['locationId', 'programId', 'fiscalYear', '_id']);

export type EnrollmentChanges = Partial<Omit<Enrollment, '_id' | 'version' | 'createdAt'>>;

/**
 * Enrollments. Read on a caller's behalf within their partner (findForPartner, reload: another partner's enrollment is
 * simply not found); findById and the program's sweeps are for work on no caller's behalf.
 */
@Injectable()
export class EnrollmentsRepository {
  /** Concurrent reads by id (requests, handlers) share one query; nothing is cached. */
  private readonly loader: BatchLoader<string, Enrollment>;

  constructor(@InjectModel(Enrollment.name) readonly model: Model<Enrollment>) {
    this.loader = modelLoader(this.model);
  }

  async findForPartner(partnerId: string, enrollmentId: string): Promise<Enrollment | null> {
    const found = await this.loader.load(enrollmentId);
    return found && found.partnerId === partnerId ? found : null;
  }

  /** The enrollment as it is now, one of its partner's (a use case acting for a caller reads it again after a write). */
  reload(enrollment: Pick<Enrollment, '_id' | 'partnerId'>): Promise<Enrollment | null> {
    return this.findForPartner(enrollment.partnerId, enrollment._id);
  }

  /** For work on no caller's behalf (event handlers, sweeps, the rollover): any partner's. */
  async findById(enrollmentId: string): Promise<Enrollment | null> {
    return (await this.loader.load(enrollmentId)) ?? null;
  }

  /**
   * A plain-driver write (faster than mongoose's casting, and the shape is ours) adding events to enrollments, existing
   * or inserted: noted, so the relay publishes them by _id instead of scanning the collection, and marked running while
   * it runs (PendingOutboxes.writing), so the relay reads again a document it read meanwhile.
   */
  withOutbox<T>(ids: string[], write: () => Promise<T>): Promise<T> {
    return PendingOutboxes.writing(this.model, ids, write);
  }

  /** Inserts a new enrollment with its events; throws the duplicate-key error when it exists already. */
  async insert(enrollment: Enrollment, events: OutboxEntry[]): Promise<void> {
    // Concurrent inserts (invitations consumed together) share one command.
    await this.withOutbox(events.length ? [enrollment._id] : [], () =>
      bulkWriteBatcher(this.model.collection as never).write({ insertOne: { document: { ...defined(enrollment), ...(events.length && { outbox: events }) } } }),
    );
  }

  /**
   * One write: the changes, version + 1, and the events, if the enrollment is still at `version`. Returns the
   * enrollment as written, or null when it changed meanwhile (the caller reads it again and decides again).
   */
  async update(
    current: Enrollment,
    changes: EnrollmentChanges,
    events: OutboxEntry[],
    unset: Array<keyof Enrollment> = [],
    /** More of the enrollment as read that the write depends on: a field changed without a new version (confirmCarried). */
    alsoAsRead: Partial<Record<keyof Enrollment, unknown>> = {},
  ): Promise<Enrollment | null> {
    changes = defined(changes);
    const next = changedEnrollment(current, changes, unset, new Date());
    const update: Record<string, unknown> = { $set: { ...changes, version: next.version, updatedAt: next.updatedAt } };
    if (unset.length) update.$unset = Object.fromEntries(unset.map((field) => [field, '']));
    if (events.length) update.$push = pushOutbox(events);
    const result = await this.withOutbox(events.length ? [current._id] : [], () =>
      this.model.collection.updateOne({ _id: current._id, version: current.version, ...alsoAsRead } as never, update),
    );
    return result.matchedCount === 1 ? next : null;
  }

  /** `count` rows in LIST_ORDER after the filter `after` (LIST_ORDER.after). */
  /** `locationIds`: null for every location of the partner. */
  async list(
    partnerId: string,
    locationIds: string[] | null,
    filter: { programId?: string; fiscalYear?: string; status?: EnrollmentStatus },
    after: Record<string, unknown>,
    count: number,
  ): Promise<Enrollment[]> {
    const query: FilterQuery<Enrollment> = { partnerId, ...(locationIds && { locationId: { $in: locationIds } }), ...after };
    if (filter.programId) query.programId = filter.programId;
    if (filter.fiscalYear) query.fiscalYear = filter.fiscalYear;
    if (filter.status) query.status = filter.status;
    return this.model.find(query).sort(LIST_ORDER.sort).limit(count).lean<Enrollment[]>();
  }

  /**
   * The enrollments a profile's event may concern, for the caller to decide which do (watchesProfile): those naming
   * the profile; for a tax profile of a known location, that location's enrollments (a tax profile belongs to one
   * location: those using it, and those with none, whose program may require one since they were submitted). Ended
   * ones (TERMINAL) are left out by the query, as watchesProfile would, and so are those the rollover is done with at
   * `now` (rolledOver: marked, of a year before now's), which a profile in use for years names once a year each.
   * Streamed, `batchSize` at a time: a bank profile serving every location of a large partner is named by a document
   * per location, program and year.
   */
  ofProfile(
    event: Pick<ProfileEvent, 'partnerId' | 'profileKind' | 'profileId' | 'locationId'>,
    now: Date,
    batchSize = 500,
  ): AsyncIterable<Enrollment> & { close(): Promise<unknown> } {
    const { partnerId, profileKind, profileId, locationId } = event;
    const filter =
      profileKind === 'TAX' && locationId !== undefined
        ? { partnerId, locationId }
        : { [profileKind === 'BANK' ? 'bankProfileId' : 'taxProfileId']: profileId, partnerId };
    // Not rolledOver: no marker, or a year not over (names as FY27 compare as their years do).
    const notRolledOver = { $or: [{ rollover: null }, { fiscalYear: { $gte: fiscalYearOf(now) } }] };
    return this.model
      .find({ ...filter, status: { $nin: TERMINAL }, ...notRolledOver })
      .lean<Enrollment>()
      .cursor({ batchSize });
  }

  /** Records that the invitation was issued at this version (the highest one kept); not a change of the enrollment. */
  async recordInvitationVersion(enrollmentId: string, invitationVersion: number): Promise<void> {
    await this.model.updateOne({ _id: enrollmentId }, { $max: { invitationVersion } });
  }

  /**
   * A continuation the rollover made on an earlier year's decision, confirmed by its own year's (`eligibilityCarried`
   * goes): a field of the rollover's, in neither the API nor the events, so no new version. By `_id` alone (a lookup on
   * every server; with the flag in the filter mongo-java-server would scan), changing nothing where it is not set;
   * batched with the collection's other writes of the same turn (BulkWriteBatcher). A
   * write that read the flag set guards on it (MarkIneligible: ending it as carried, after this confirmed it).
   */
  async confirmCarried(id: string): Promise<void> {
    // On every eligible decision (most find nothing to change): the writes of a burst share commands.
    await bulkWriteBatcher(this.model.collection as never).write({ updateOne: { filter: { _id: id } as never, update: { $unset: { eligibilityCarried: '' } } } });
  }

  /**
   * One enrollment written with a program name read before a rename (RecheckStart): renamed where it still has that
   * name (a later rename's sweep may have given it a newer one). No new version, as renameProgram.
   */
  async renameFrom(id: string, written: string, name: string): Promise<void> {
    await this.model.updateOne({ _id: id, programName: written }, { $set: { programName: name } });
  }

  /**
   * The program's name on its enrollments (what they are read and their events published with): one write, no new
   * version and no event (the name is the catalog's, not a change of the enrollment). Returns how many it renamed.
   */
  async renameProgram(programId: string, name: string): Promise<number> {
    const { modifiedCount } = await this.model.updateMany({ programId, programName: { $ne: name } }, { $set: { programName: name } });
    return modifiedCount;
  }

  /** A page in `_id` order; `after`: the last `_id` of the previous page (for sweeps that leave some where they are). */
  async ofProgramIn(programId: string, statuses: EnrollmentStatus[], limit: number, after?: string, also: FilterQuery<Enrollment> = {}): Promise<Enrollment[]> {
    const query: FilterQuery<Enrollment> = { ...also, programId, status: { $in: statuses } };
    if (after !== undefined) query._id = { $gt: after };
    return this.model.find(query).sort({ _id: 1 }).limit(limit).lean<Enrollment[]>();
  }
}
