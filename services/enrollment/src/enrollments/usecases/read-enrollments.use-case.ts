import { AccessPolicy, holdsRole } from '@lib/access';
import { fiscalYearBefore } from '@lib/contracts';
import { Clock, CONFIG, DEFAULT_PAGE_SIZE, Page, Principal, Problems } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import type { EnrollmentConfig } from '../../config';
import { EnrollmentDto, ListEnrollmentsQuery } from '../dto/enrollment.dto';
import { takesStart } from '../../programs/program-rules';
import { Program } from '../../programs/program.schema';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { Enrollment } from '../enrollment.schema';
import { toEnrollmentDto } from '../enrollment.view';
import { EnrollmentsRepository, LIST_ORDER } from '../enrollments.repository';

/**
 * Enrollments of the locations the caller may see (incentive roles there, or a company admin): read-only for
 * everyone but the location's Incentives admin, who also gets the next action. Another partner's is 404.
 */
@Injectable()
export class ReadEnrollments {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly views: ViewsRepository,
    private readonly clock: Clock,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  async get(principal: Principal, id: string): Promise<EnrollmentDto> {
    const actor = await this.policy.actor(principal);
    const enrollment = await this.enrollments.findForPartner(actor.partnerId, id);
    if (!enrollment) throw Problems.notFound(`Enrollment ${id}`);
    await this.policy.requireViewOfOwn(actor, enrollment.locationId);
    return this.dto(holdsRole(actor, 'INCENTIVES_ADMIN', enrollment.locationId), enrollment);
  }

  /**
   * Enroll's, Continue's and Submit's answer to their caller, the location's Incentives admin: the enrollment as GET
   * shows it to them (one just evaluated, not INELIGIBLE: nothing more of its program to read).
   */
  async forItsAdmin(enrollment: Enrollment): Promise<EnrollmentDto> {
    return this.dto(true, enrollment);
  }

  /** A page, in location, program and year order (`limit`, `cursor`: PageQuery). */
  async list(principal: Principal, query: ListEnrollmentsQuery): Promise<Page<EnrollmentDto>> {
    const actor = await this.policy.reader(principal);
    let locationIds: string[] | null; // null: every location of the partner
    if (query.locationId) {
      await this.policy.requireView(actor, query.locationId);
      locationIds = [query.locationId];
    } else {
      locationIds = await this.policy.visibleLocationIds(actor);
    }
    const after = LIST_ORDER.after(query.cursor); // a bad cursor is a 400 whoever asks
    if (locationIds?.length === 0) return { items: [] };
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const page = LIST_ORDER.page(await this.enrollments.list(actor.partnerId, locationIds, query, after, limit + 1), limit);
    const agreementActive = await this.views.agreementActive(actor.partnerId);
    return { ...page, items: await Promise.all(page.items.map((e) => this.dto(holdsRole(actor, 'INCENTIVES_ADMIN', e.locationId), e, agreementActive))) };
  }

  /**
   * An admin's view of one never enrolled (no proposal yet) reads its program: Enroll is no next action while it is not
   * open or has moved past its fiscal year. Of an INELIGIBLE one, also the location's eligibility for its year: Enroll
   * starts it again once eligible. `agreementActive`: read here when not given, only where nextAction reads it (one
   * not submitted, or INELIGIBLE).
   */
  private async dto(viewerIsAdmin: boolean, e: Enrollment, agreementActive?: boolean): Promise<EnrollmentDto> {
    agreementActive ??= e.submittedAt && e.status !== 'INELIGIBLE' ? true : await this.views.agreementActive(e.partnerId);
    const reads = viewerIsAdmin && (!e.evaluatedAt || e.status === 'INELIGIBLE');
    const program = reads ? await this.programs.find(e.programId) : null;
    // Not one of a year its program has moved past (Enroll, /refresh start none there).
    const yearTaken = !!program && !fiscalYearBefore(e.fiscalYear, program.fiscalYear);
    const programOpen = reads ? yearTaken && takesStart(program!, false) : undefined;
    // Started before and ended INELIGIBLE: a program CLOSED since starts it again too (takesStart).
    const restartable = e.status === 'INELIGIBLE' && yearTaken && takesStart(program!, !!(e.evaluatedAt || e.enrolledAt)) && (await this.eligibleFor(program!, e));
    return toEnrollmentDto(e, { viewerIsAdmin, payoutApiUrl: this.config.PAYOUT_PROFILES_API_URL, now: this.clock.now(), programOpen, restartable, programFiscalYear: program?.fiscalYear, agreementActive });
  }

  /** Whether Enroll's check would let the enrollment's location start in its program and year (EnrollLocation). */
  private async eligibleFor(program: Program, e: Enrollment): Promise<boolean> {
    if (!program.requiresEligibility) return true;
    return (await this.views.partnersEligibility(e.partnerId, e.programId, e.locationId, e.fiscalYear))?.eligible === true;
  }
}
