import { ALL_LOCATIONS, ID_PATTERN, Role, Roles } from '@lib/contracts';
import { PageLimit } from '@lib/platform';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, IsArray, IsIn, Matches } from 'class-validator';
import { EmailKeyCursor } from '../../users/dto/user.dto';

const LOCATION_OR_ALL = new RegExp(`${ID_PATTERN.source}|^\\${ALL_LOCATIONS}$`);

export class RoleChangeInput {
  @ApiProperty({
    enum: Roles,
    description:
      'INCENTIVES_ADMIN or INCENTIVES_USER per location (Global or Account admin); GLOBAL_ADMIN or ACCOUNT_ADMIN company-wide (Global admin only, locationIds ["*"]).',
  })
  @IsIn(Roles)
  role!: Role;

  @ApiProperty({ type: [String], example: ['5000123'], description: 'Locations of your partner, or ["*"] for all (present and future).' })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(500)
  @Matches(LOCATION_OR_ALL, { each: true, message: 'each locationIds entry must be a location id or "*"' })
  locationIds!: string[];
}

export class RoleHolderView {
  @ApiProperty() userId!: string;
  @ApiProperty() email!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty({ type: [String], description: 'The locations the role is held on (["*"] = all).' }) locationIds!: string[];
}

export class RoleHoldersView {
  @ApiProperty() locationId!: string;
  @ApiProperty({ enum: Roles }) role!: Role;
  @ApiProperty({ type: [RoleHolderView] }) items!: RoleHolderView[];
  @ApiPropertyOptional({ description: 'Pass as cursor to read the next page; absent on the last page.' })
  nextCursor?: string;
}

export class RoleHoldersQuery {
  @PageLimit({ max: 1_000, defaultSize: 100, description: 'Holders per page' })
  limit?: number;

  @EmailKeyCursor()
  cursor?: string;
}
