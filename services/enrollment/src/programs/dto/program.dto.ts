import { CURRENCIES, FISCAL_YEAR_PATTERN, ID_MESSAGE, ID_PATTERN, IsFiscalYear, PaymentMethod, PaymentMethods, ProgramState, ProgramStates } from '@lib/contracts';
import { OptionalNotNull, PageQuery, Text } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  ValidateNested,
} from 'class-validator';

export class PayoutRulesDto {
  @ApiProperty({ example: ['USD', 'EUR'], description: 'ISO 4217 codes a bank profile may pay out in' })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(50)
  @ArrayUnique()
  @IsIn(CURRENCIES, { each: true, message: 'each allowed currency must be an ISO 4217 currency code in circulation, such as USD' })
  allowedCurrencies!: string[];

  @ApiProperty({ enum: PaymentMethods, isArray: true, example: ['ELECTRONIC_BANK_TRANSFER'] })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @IsIn(PaymentMethods, { each: true })
  allowedPaymentMethods!: PaymentMethod[];

  @ApiProperty({ description: 'Whether an approved, unexpired tax profile of the location is needed' })
  @IsBoolean()
  taxProfileRequired!: boolean;
}

/** Payout rules as answers show them: the same fields, a schema of its own (PayoutRulesDto's, which requests send, is closed). */
export class PayoutRulesView extends PayoutRulesDto {}

/** The states a program may be created in. */
const STARTING_STATES: readonly ProgramState[] = ProgramStates.filter((state) => state !== 'DISCONTINUED');

export class CreateProgramDto {
  @ApiPropertyOptional({ pattern: ID_PATTERN.source, description: 'Chosen by the operator; generated when absent (from the Idempotency-Key when one is sent)', example: 'azure-growth-fy27' })
  @OptionalNotNull()
  @IsString()
  @Matches(ID_PATTERN, { message: `programId ${ID_MESSAGE}` })
  programId?: string;

  @ApiProperty({ example: 'Azure Growth Incentive' })
  @Text(200)
  name!: string;

  @ApiProperty({ pattern: FISCAL_YEAR_PATTERN.source, example: 'FY27', description: 'The fiscal year new enrollments are for (FY27 = 2026-07-01 .. 2027-06-30)' })
  @IsFiscalYear()
  fiscalYear!: string;

  @ApiProperty({ description: 'false: an open program, any location may enroll' })
  @IsBoolean()
  requiresEligibility!: boolean;

  @ApiProperty({ type: PayoutRulesDto })
  @IsObject()
  @ValidateNested()
  @Type(() => PayoutRulesDto)
  payoutRules!: PayoutRulesDto;

  @ApiPropertyOptional({ enum: STARTING_STATES, default: 'OPEN', description: 'DISCONTINUED is final and ends every enrollment: a program starts OPEN or CLOSED' })
  @OptionalNotNull()
  @IsIn(STARTING_STATES, { message: `state must be one of ${STARTING_STATES.join(', ')}: a program is discontinued by a PATCH` })
  state?: ProgramState;
}

export class UpdateProgramDto {
  @ApiPropertyOptional() @OptionalNotNull() @Text(200) name?: string;

  @ApiPropertyOptional({ pattern: FISCAL_YEAR_PATTERN.source, example: 'FY28', description: 'Moves the program to a later fiscal year: new enrollments are for that year (an earlier one: 409)' })
  @OptionalNotNull()
  @IsFiscalYear()
  fiscalYear?: string;

  @ApiPropertyOptional() @OptionalNotNull() @IsBoolean() requiresEligibility?: boolean;

  @ApiPropertyOptional({ type: PayoutRulesDto })
  @OptionalNotNull()
  @IsObject()
  @ValidateNested()
  @Type(() => PayoutRulesDto)
  payoutRules?: PayoutRulesDto;

  @ApiPropertyOptional({ enum: ProgramStates, description: 'CLOSED stops new enrollments; DISCONTINUED ends every enrollment of the program (final)' })
  @OptionalNotNull()
  @IsIn(ProgramStates)
  state?: ProgramState;
}

export class ListProgramsQuery extends PageQuery {
  @ApiPropertyOptional({ enum: ProgramStates }) @IsOptional() @IsIn(ProgramStates) state?: ProgramState;
  @ApiPropertyOptional({ pattern: FISCAL_YEAR_PATTERN.source, example: 'FY27' })
  @IsOptional()
  @IsFiscalYear()
  fiscalYear?: string;
}

export class ProgramDto {
  @ApiProperty() programId!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ example: 'FY27' }) fiscalYear!: string;
  @ApiProperty() requiresEligibility!: boolean;
  @ApiProperty({ type: PayoutRulesView }) payoutRules!: PayoutRulesView;
  @ApiProperty({ enum: ProgramStates }) state!: ProgramState;
  @ApiProperty({ description: 'Counts changes; also the ETag' }) revision!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}

export class ProgramListDto {
  @ApiProperty({ type: [ProgramDto] }) items!: ProgramDto[];
  @ApiPropertyOptional({ description: 'Cursor of the next page: pass it as `cursor`; absent on the last page' }) nextCursor?: string;
}
