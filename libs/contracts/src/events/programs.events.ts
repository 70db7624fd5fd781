import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsDefined, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Min, ValidateNested } from 'class-validator';
import { PaymentMethod, PaymentMethods, ProgramState, ProgramStates } from '../domain';
import { fiscalYearBefore, IsFiscalYear } from '../fiscal-year';
import { KnownWhenPublished } from './common';

export class PayoutRules {
  @IsArray() @Matches(/^[A-Z]{3}$/, { each: true }) allowedCurrencies!: string[];
  /** Methods of PaymentMethods; one a later enrollment added is taken as named: no profile here has it. */
  @IsArray() @KnownWhenPublished(PaymentMethods, { each: true }) allowedPaymentMethods!: Array<PaymentMethod | (string & {})>;
  @IsBoolean() taxProfileRequired!: boolean;
}

/** A fiscal year a program moved on from, with the payout rules it had as it left it. */
export class EarlierYearRules {
  @IsFiscalYear() fiscalYear!: string;
  @IsDefined() @IsObject() @ValidateNested() @Type(() => PayoutRules) payoutRules!: PayoutRules;
}

/** The whole program, carried by every program event (highest revision wins). */
export class ProgramSnapshot {
  @IsString() programId!: string;
  @IsString() name!: string;
  @IsFiscalYear() fiscalYear!: string;
  @IsBoolean() requiresEligibility!: boolean;
  @IsDefined() @IsObject() @ValidateNested() @Type(() => PayoutRules) payoutRules!: PayoutRules;
  @IsIn(ProgramStates) state!: ProgramState;
  @IsInt() @Min(1) revision!: number;
  /**
   * The fiscal years the program moved on from, oldest first, each with the payout rules it had as it left it: that
   * year's enrollments are judged by them (payoutRulesFor), not by `payoutRules` (the current year's, which judge the
   * rollover's continuations). Absent: none recorded (a program that never moved, or moved before these were kept).
   */
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => EarlierYearRules) earlierYears?: EarlierYearRules[];
}

/**
 * The payout rules an enrollment of `fiscalYear` is judged by: the program's, for its current year and later; for a
 * year it moved on from, the rules it had when it left that year (earlierYears). A year it skipped (moved from the year
 * before straight past it, as a move to the year after the running one does) ran under the rules of the year it was
 * at then, until the move: the last year it left before it. A year before every record, the oldest record's; none
 * kept (moved before they were), its current rules.
 */
export function payoutRulesFor(program: { fiscalYear: string; payoutRules: PayoutRules; earlierYears?: EarlierYearRules[] }, fiscalYear: string): PayoutRules {
  if (!fiscalYearBefore(fiscalYear, program.fiscalYear)) return program.payoutRules;
  const earlier = program.earlierYears ?? [];
  const atOrBefore = earlier.filter((year) => !fiscalYearBefore(fiscalYear, year.fiscalYear));
  return (atOrBefore[atOrBefore.length - 1] ?? earlier[0])?.payoutRules ?? program.payoutRules;
}

/**
 * programs.events.v1, key programId. Nested objects are @IsDefined/@IsObject: class-validator skips @ValidateNested on
 * a missing value, so a ProgramUpdated without `program` (or its `payoutRules`) would otherwise pass.
 */
export class ProgramEvent {
  @IsDefined() @IsObject() @ValidateNested() @Type(() => ProgramSnapshot) program!: ProgramSnapshot;
}
export class ProgramCreated extends ProgramEvent {}
export class ProgramUpdated extends ProgramEvent {}

export const ProgramEventTypes = { ProgramCreated, ProgramUpdated } as const;
