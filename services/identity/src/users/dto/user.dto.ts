import { COMPANY_ROLES, Role, Roles } from '@lib/contracts';
import { IsDeliverableEmail, PageLimit, setETag, Text } from '@lib/platform';
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import type { Response } from 'express';
import type { User } from '../user.schema';

/**
 * The cursor of a list of users by email (USER_ORDER, HOLDER_ORDER): base64url JSON of the list's name and the last
 * user's emailKey, 254 characters that lower-casing may double, 3 bytes each in UTF-8 (JSON escapes take 2 bytes at
 * most for an email): under 2,100.
 */
export const EmailKeyCursor = () =>
  applyDecorators(
    ApiPropertyOptional({ description: 'The nextCursor of the previous page.', maxLength: 2_200 }),
    IsOptional(),
    IsString(),
    MaxLength(2_200),
  );

export class CreateUserInput {
  @ApiProperty({ example: 'grace@contoso.example', description: 'Unique per partner, case-insensitive.' })
  @IsDeliverableEmail()
  @MaxLength(254)
  email!: string;

  @ApiProperty({ example: 'Grace Hopper' })
  @Text(200)
  displayName!: string;

  @ApiPropertyOptional({
    enum: COMPANY_ROLES,
    description: 'Makes the user a company-wide admin. Only a Global admin may create another company admin.',
  })
  @IsOptional()
  @IsIn(COMPANY_ROLES)
  companyRole?: 'GLOBAL_ADMIN' | 'ACCOUNT_ADMIN';
}

export class ListUsersQuery {
  @PageLimit({ max: 200, defaultSize: 50, description: 'Users per page' })
  limit?: number;

  @EmailKeyCursor()
  cursor?: string;

  @ApiPropertyOptional({ description: 'Only active (true) or deactivated (false) users.' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  active?: boolean;
}

export class RoleGrantView {
  @ApiProperty({ enum: Roles }) role!: Role;
  @ApiProperty({ type: [String], example: ['5000123'], description: "Location ids, or ['*'] for all locations." })
  locationIds!: string[];
}

export class UserView {
  @ApiProperty() userId!: string;
  @ApiProperty() partnerId!: string;
  @ApiProperty() email!: string;
  @ApiProperty() displayName!: string;
  @ApiPropertyOptional() givenName?: string;
  @ApiPropertyOptional() familyName?: string;
  @ApiProperty() active!: boolean;
  @ApiProperty({ type: [RoleGrantView] }) roles!: RoleGrantView[];
  @ApiPropertyOptional({ description: 'The directory id of an imported user.' }) externalId?: string;
  @ApiProperty({ description: 'Increases by one with every change; the ETag of the user.' }) revision!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}

export class UserPage {
  @ApiProperty({ type: [UserView] }) items!: UserView[];
  @ApiPropertyOptional({ description: 'Pass as cursor to read the next page; absent on the last page.' })
  nextCursor?: string;
}

export function toUserView(user: User): UserView {
  return {
    userId: user._id,
    partnerId: user.partnerId,
    email: user.email,
    displayName: user.displayName,
    ...(user.givenName !== undefined && { givenName: user.givenName }),
    ...(user.familyName !== undefined && { familyName: user.familyName }),
    active: user.active,
    roles: user.roles.map((grant) => ({ role: grant.role, locationIds: [...grant.locationIds] })),
    ...(user.externalId !== undefined && { externalId: user.externalId }),
    revision: user.revision,
    createdAt: new Date(user.createdAt).toISOString(),
    updatedAt: new Date(user.updatedAt).toISOString(),
  };
}

/** A user as the answer of a request about it: its view, with its revision as ETag. */
export function answerUser(res: Response, user: User): UserView {
  setETag(res, user.revision);
  return toUserView(user);
}
