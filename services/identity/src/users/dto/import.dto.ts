import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayNotEmpty, IsArray, IsInt, IsObject, IsOptional, IsString, Min } from 'class-validator';

export const SCIM_LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

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

  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) totalResults?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) startIndex?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) itemsPerPage?: number;

  @ApiProperty({
    description: 'SCIM users: externalId, userName, name { givenName, familyName }, displayName, emails [{ value, primary }], active.',
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
  @IsArray()
  @ArrayNotEmpty()
  @IsObject({ each: true })
  Resources!: Array<Record<string, unknown>>;
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
