import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsDefined, IsIn, IsInt, IsObject, IsString, Matches, Min, ValidateNested } from 'class-validator';
import { PaymentMethod, PaymentMethods, ProgramState, ProgramStates } from '../domain';
import { IsFiscalYear } from '../fiscal-year';
import { KnownWhenPublished } from './common';

export class PayoutRules {
  @IsArray() @Matches(/^[A-Z]{3}$/, { each: true }) allowedCurrencies!: string[];
  /** Methods of PaymentMethods; one a later enrollment added is taken as named: no profile here has it. */
  @IsArray() @KnownWhenPublished(PaymentMethods, { each: true }) allowedPaymentMethods!: Array<PaymentMethod | (string & {})>;
  @IsBoolean() taxProfileRequired!: boolean;
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
