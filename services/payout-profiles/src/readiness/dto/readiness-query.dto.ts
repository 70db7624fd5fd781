import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';

export class ReadinessQueryDto {
  @ApiProperty({ minLength: 1, maxLength: 100 }) @IsString() @Length(1, 100) programId!: string;
  @ApiProperty({ minLength: 1, maxLength: 100 }) @IsString() @Length(1, 100) locationId!: string;
  @ApiPropertyOptional({ minLength: 1, maxLength: 100, description: "A bank profile of your partner; the location's default when omitted" })
  @IsOptional() @IsString() @Length(1, 100) bankProfileId?: string;
}
