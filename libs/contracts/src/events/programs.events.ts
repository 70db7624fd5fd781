import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsDefined, IsIn, IsInt, IsObject, IsString, Matches, Min, ValidateNested } from 'class-validator';
import { FISCAL_YEAR_PATTERN, PaymentMethod, PaymentMethods, ProgramState, ProgramStates } from '../domain';
import { WithoutUnknown } from './common';

export class PayoutRules {
  @IsArray() @Matches(/^[A-Z]{3}$/, { each: true }) allowedCurrencies!: string[];
  /** A method this version does not know is one no profile of it can have: left out (none left: none is met). */
  @IsArray() @IsIn(PaymentMethods, { each: true }) @WithoutUnknown(PaymentMethods) allowedPaymentMethods!: PaymentMethod[];
  @IsBoolean() taxProfileRequired!: boolean;
}

/** The whole program, carried by every program event (highest revision wins). */
export class ProgramSnapshot {
  @IsString() programId!: string;
  @IsString() name!: string;
  @Matches(FISCAL_YEAR_PATTERN) fiscalYear!: string;
  @IsBoolean() requiresEligibility!: boolean;
  @IsDefined() @IsObject() @ValidateNested() @Type(() => PayoutRules) payoutRules!: PayoutRules;
  @IsIn(ProgramStates) state!: ProgramState;
  @IsInt() @Min(1) revision!: number;
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
