import { MissingPayoutItem, MissingPayoutItems } from '@lib/contracts';
import { ApiProperty } from '@nestjs/swagger';

export class ReadinessDto {
  @ApiProperty() programId!: string;
  @ApiProperty() locationId!: string;
  @ApiProperty({ description: 'True when nothing is missing' }) ready!: boolean;
  @ApiProperty({ type: [String], enum: MissingPayoutItems, description: "What keeps the location from meeting the program's payout rules" })
  missing!: MissingPayoutItem[];
  @ApiProperty({ type: String, nullable: true, description: "The bank profile checked: the one asked for, or the location's default" })
  bankProfileId!: string | null;
  @ApiProperty({ type: String, nullable: true, description: "The location's tax profile" })
  taxProfileId!: string | null;
}
