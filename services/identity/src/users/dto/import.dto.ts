import { DocumentationOnly } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsArray, IsInt, IsOptional, IsString, Min, ValidateIf } from 'class-validator';

export const SCIM_LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** SCIM `name` (RFC 7643): the parts the platform keeps. */
@DocumentationOnly()
export class ScimNameInput {
  @ApiPropertyOptional({ maxLength: 200, example: 'Grace', description: 'Sent empty ("" or null), clears the stored one.' }) givenName?: string;
  @ApiPropertyOptional({ maxLength: 200, example: 'Hopper', description: 'Sent empty ("" or null), clears the stored one.' }) familyName?: string;
  @ApiPropertyOptional({ description: 'The display name when displayName is absent.' }) formatted?: string;
}

/** SCIM `emails` entry. */
@DocumentationOnly()
export class ScimEmailInput {
  @ApiProperty({ example: 'grace@contoso.example' }) value!: string;
  @ApiPropertyOptional({ description: 'The primary one is imported (else the first).' }) primary?: boolean;
}

/**
 * One SCIM 2.0 User resource (RFC 7643 core schema, as Entra ID exports it): the attributes the import reads
 * (`mapScimUser`). Documentation only: the import checks each resource itself and reports a bad one as rejected.
 */
@DocumentationOnly()
export class ScimUserInput {
  @ApiProperty({ maxLength: 256, description: 'The directory\'s id of the user; the import is idempotent by it.', example: 'entra-0001' })
  externalId!: string;

  @ApiPropertyOptional({ description: 'The email when no emails[] entry has one.', example: 'grace@contoso.example' })
  userName?: string;

  @ApiPropertyOptional({ type: ScimNameInput }) name?: ScimNameInput;

  @ApiPropertyOptional({ maxLength: 200, description: 'Default: name.formatted, then given and family name; without any, a new user is named by its email and a known user keeps its name.', example: 'Grace Hopper' })
  displayName?: string;

  @ApiPropertyOptional({ type: [ScimEmailInput] }) emails?: ScimEmailInput[];

  @ApiPropertyOptional({ default: true, description: 'false deactivates the user (also "true" / "false" as strings).' })
  active?: boolean;
}

/**
 * A SCIM 2.0 ListResponse of users (an Entra ID / directory export). The envelope is strict; each resource is
 * checked by the import itself, so one bad entry is reported as rejected instead of failing the whole file, and
 * directory attributes the platform does not use (id, meta, phoneNumbers, extensions...) are ignored.
 */
export class ScimListResponseInput {
  @ApiProperty({ example: [SCIM_LIST_RESPONSE] })
  @IsArray()
  @IsString({ each: true })
  schemas!: string[];

  @ApiPropertyOptional({ type: 'integer', minimum: 0 }) @IsOptional() @IsInt() @Min(0) totalResults?: number;
  @ApiPropertyOptional({ type: 'integer', minimum: 0 }) @IsOptional() @IsInt() @Min(0) startIndex?: number;
  @ApiPropertyOptional({ type: 'integer', minimum: 0 }) @IsOptional() @IsInt() @Min(0) itemsPerPage?: number;

  @ApiProperty({
    type: [ScimUserInput],
    required: false,
    description: 'SCIM users (none: left out, as an empty ListResponse may). Other attributes (id, meta, phoneNumbers, extensions...) are ignored.',
    example: [
      {
        externalId: 'entra-0001',
        userName: 'grace@contoso.example',
        name: { givenName: 'Grace', familyName: 'Hopper' },
        displayName: 'Grace Hopper',
        emails: [{ value: 'grace@contoso.example', primary: true }],
        active: true,
      },
    ],
  })
  // Each entry is the import's to check (one that is no object is `rejected`, the others imported), and none at all
  // is an export with no users (SCIM's empty ListResponse, which may leave Resources out: RFC 7644 3.4.2): nothing to do.
  // Left out of a list that says it has users (totalResults), or sent null, it is refused: a truncated export is not empty.
  @ValidateIf((list: ScimListResponseInput) => list.Resources !== undefined || (list.totalResults ?? 0) > 0)
  @IsArray({ message: 'Resources must be an array (it may be left out only when totalResults is 0)' })
  Resources?: unknown[];
}

export const ImportOutcomes = ['created', 'updated', 'deactivated', 'unchanged', 'rejected'] as const;
export type ImportOutcome = (typeof ImportOutcomes)[number];

export class ImportResultView {
  @ApiProperty({ description: 'Position in Resources.' }) index!: number;
  @ApiPropertyOptional() externalId?: string;
  @ApiPropertyOptional() userId?: string;
  @ApiPropertyOptional() email?: string;
  @ApiProperty({ enum: ImportOutcomes }) outcome!: ImportOutcome;
  @ApiPropertyOptional({ description: 'Why it was rejected, or what was changed.' }) reason?: string;
}

export class ImportSummaryView {
  @ApiProperty() created!: number;
  @ApiProperty() updated!: number;
  @ApiProperty() deactivated!: number;
  @ApiProperty() unchanged!: number;
  @ApiProperty() rejected!: number;
}

export class ImportReportView {
  @ApiProperty({ type: ImportSummaryView }) summary!: ImportSummaryView;
  @ApiProperty({ type: [ImportResultView] }) results!: ImportResultView[];
}
