import { PlatformModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { enrollmentConfigSpec } from './config';
import { EnrollmentsModule } from './enrollments/enrollments.module';
import { ProgramsModule } from './programs/programs.module';
import { RolloverModule } from './rollover/rollover.module';

@Module({
  imports: [
    PlatformModule.forService({ name: 'enrollment', configSpec: enrollmentConfigSpec }),
    ScheduleModule.forRoot(),
    ProgramsModule,
    EnrollmentsModule,
    RolloverModule,
  ],
})
export class AppModule {}
