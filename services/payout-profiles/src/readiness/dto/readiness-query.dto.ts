import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';

export class ReadinessQueryDto {
  @ApiProperty() @IsString() @Length(1, 100) programId!: string;
  @ApiProperty() @IsString() @Length(1, 100) locationId!: string;
  @ApiPropertyOptional({ description: "A bank profile of your partner; the location's default when omitted" })
  @IsOptional() @IsString() @Length(1, 100) bankProfileId?: string;
}
