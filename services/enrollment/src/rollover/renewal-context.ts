import { fiscalYearRange, payoutRulesFor } from '@lib/contracts';
import { findByIds } from '@lib/messaging';
import { Clock } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { eligibilityId, enrollmentId } from '../common/ids';
import { Enrollment } from '../enrollments/enrollment.schema';
import { EnrollmentsRepository } from '../enrollments/enrollments.repository';
import { partnersDecision, ProfileFacts } from '../enrollments/enrollment-rules';
import { profileFacts } from '../enrollments/payout-facts';
import { Program } from '../programs/program.schema';
import { agreementActiveAt } from '../views/agreement-status';
import { ViewsRepository } from '../views/views.repository';
import { YearDecision } from '../views/views.schemas';
import { decideRenewal, eligibilityFor, RenewalDecision } from './renewal-rules';

/** The part of an existing next-year enrollment the rollover looks at. */
export type NextYearEnrollment = Pick<
  Enrollment,
  '_id' | 'status' | 'version' | 'renewedFrom' | 'renewedAs' | 'renewedEarly' | 'submittedAt' | 'submittedBy' | 'bankWithdrawn' | 'enrolledAt'
>;

/** What the rollover reads of an existing next-year enrollment. */
export const NEXT_YEAR_FIELDS = { _id: 1, status: 1, version: 1, renewedFrom: 1, renewedAs: 1, renewedEarly: 1, submittedAt: 1, submittedBy: 1, bankWithdrawn: 1, enrolledAt: 1 } as const;

export interface BatchContext {
  decide(enrollment: Enrollment): RenewalDecision;
  /**
   * Whether the partner's agreement was active as the new year began (agreementActiveAt), as the batch read it (one
   * never heard of was); before that, its current status: a run after the year's end decides as the run at its end
   * would have.
   */
  agreementActive(partnerId: string): boolean;
  nextId(enrollment: Enrollment): string;
  /** The next-year enrollments that exist already, by id. */
  nextYear(enrollments: Enrollment[]): Promise<Map<string, NextYearEnrollment>>;
  /** Of these profiles, those whose view changed since the batch read it (another revision or status, or version). */
  changedProfiles(profileIds: string[]): Promise<Set<string>>;
  /**
   * Of these profiles, the tax profiles (as the batch read them) that expired after the new year's start and by `at`:
   * the renewal judged them at that start, and a run after it (late: a consumer behind, an outage) may find one expired
   * since, whose expiry the hourly follow-up (FollowExpiredTaxProfiles) met before the continuation existed.
   */
  expiredProfiles(profileIds: string[], at: Date): Set<string>;
  /**
   * The decisions that count for these continuations now, read again; by continuation id: eligibilityFor, or for one
   * renewed on carried eligibility (`eligibilityCarried`) the new year's own only (an earlier year's says nothing of it:
   * MarkIneligible).
   */
  eligibilityNow(continuations: Enrollment[]): Promise<Map<string, YearDecision | undefined>>;
}

const unique = (values: Array<string | undefined>) => [...new Set(values.filter((v): v is string => !!v))];

/**
 * Everything a batch of enrollments needs to decide its renewal, read with a few queries per view ($in on _id):
 * eligibility, agreements, profiles; and, on request, the next-year enrollments that exist already. No
 * per-enrollment reads.
 */
@Injectable()
export class RenewalContext {
  constructor(
    private readonly views: ViewsRepository,
    private readonly enrollments: EnrollmentsRepository,
    private readonly clock: Clock,
  ) {}

  async load(batch: Enrollment[], programs: Map<string, Program>, fromFiscalYear: string, toFiscalYear: string): Promise<BatchContext> {
    const nextId = (e: Enrollment) => enrollmentId({ programId: e.programId, locationId: e.locationId, fiscalYear: toFiscalYear });
    // Enrollments without a tax profile (submitted while their program required none) whose program requires one now:
    // the location's tax profile, as Continue and following validation take it up (PayoutFacts.inUse).
    const lacks = (e: Enrollment) => {
      const program = programs.get(e.programId);
      return !e.taxProfileId && !!program && payoutRulesFor(program, toFiscalYear).taxProfileRequired;
    };
    const lacking = batch.filter(lacks);
    const locationTax = lacking.length ? await this.views.locationTaxProfilesByIds(unique(lacking.map((e) => e.locationId))) : new Map();
    const taxProfileIdOf = (e: Enrollment): string | undefined => {
      if (!lacks(e)) return e.taxProfileId;
      const link = locationTax.get(e.locationId);
      return link?.partnerId === e.partnerId ? link.profileId : undefined;
    };
    const [eligibility, agreements, profiles] = await Promise.all([
      this.views.eligibilityByIds(unique(batch.filter((e) => programs.get(e.programId)?.requiresEligibility).map((e) => eligibilityId(e.programId, e.locationId)))),
      this.views.agreementsByPartner(unique(batch.map((e) => e.partnerId))),
      this.views.profilesByIds(unique(batch.flatMap((e) => [e.bankProfileId, taxProfileIdOf(e)]))),
    ]);
    // The instant the agreement is judged at: the new year's first once it has begun; before it (reminders, an early
    // run, one that ends the year early on purpose), the current status, as Enroll and Submit read it (one an outside
    // clock stamped a little ahead of this one's included).
    const { start } = fiscalYearRange(toFiscalYear);
    const agreementsAt = this.clock.now() >= start ? start : undefined;
    const agreementActive = (partnerId: string) => agreementActiveAt(agreements.get(partnerId), agreementsAt);
    const state = (view: { revision: number; status: string; version?: number } | undefined) => (view ? `${view.revision}/${view.status}/${view.version ?? ''}` : '');
    return {
      nextId,
      agreementActive,
      nextYear: (enrollments) => this.nextYear(enrollments.map(nextId)),
      eligibilityNow: async (continuations) => {
        const views = await this.views.eligibilityByIds(unique(continuations.map((c) => eligibilityId(c.programId, c.locationId))));
        return new Map(
          continuations.map((c) => {
            const years = views.get(eligibilityId(c.programId, c.locationId))?.years;
            return [c._id, c.eligibilityCarried ? partnersDecision(years, toFiscalYear, c.partnerId) : eligibilityFor(years, toFiscalYear, fromFiscalYear, c.partnerId)];
          }),
        );
      },
      expiredProfiles: (profileIds, at) =>
        new Set(
          unique(profileIds).filter((id) => {
            const view = profiles.get(id);
            const expiresAt = view?.kind === 'TAX' && view.expiresAt ? +new Date(view.expiresAt) : undefined;
            return expiresAt !== undefined && expiresAt > +start && expiresAt <= +at;
          }),
        ),
      changedProfiles: async (profileIds) => {
        const now = await this.views.profilesByIds(unique(profileIds));
        return new Set(unique(profileIds).filter((id) => state(now.get(id)) !== state(profiles.get(id))));
      },
      decide: (e) => {
        const program = programs.get(e.programId);
        const bank = e.bankProfileId ? profiles.get(e.bankProfileId) : undefined;
        const taxProfileId = taxProfileIdOf(e);
        const tax = taxProfileId ? profiles.get(taxProfileId) : undefined;
        const adopted = taxProfileId !== e.taxProfileId && tax?.kind === 'TAX' ? { taxProfileId } : {};
        const decision = decideRenewal({
          // The new year's rules: the program's, or (moved on past it since: a run late) those it had as it left that year.
          program: program && { ...program, payoutRules: payoutRulesFor(program, toFiscalYear) },
          eligibility: eligibility.get(eligibilityId(e.programId, e.locationId))?.years,
          agreementActive: agreementActive(e.partnerId),
          partnerId: e.partnerId,
          locationId: e.locationId,
          bank: bank?.kind === 'BANK' ? profileFacts(bank) : undefined,
          bankWithdrawn: e.bankWithdrawn === true,
          tax: tax?.kind === 'TAX' && tax.partnerId === e.partnerId ? profileFacts(tax) : undefined,
          fromFiscalYear,
          toFiscalYear,
        });
        return { ...decision, ...adopted };
      },
    };
  }

  /** The bank profiles of these enrollments as the view has them now (one query), by id. */
  async bankProfiles(enrollments: Enrollment[]): Promise<Map<string, ProfileFacts>> {
    const views = await this.views.profilesByIds(unique(enrollments.map((e) => e.bankProfileId)));
    return new Map([...views].filter(([, view]) => view.kind === 'BANK').map(([id, view]) => [id, profileFacts(view)!]));
  }

  private async nextYear(ids: string[]): Promise<Map<string, NextYearEnrollment>> {
    return findByIds<NextYearEnrollment>(this.enrollments.model.collection as never, ids, NEXT_YEAR_FIELDS);
  }
}
