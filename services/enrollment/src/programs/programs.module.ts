import { AccessModule } from '@lib/access';
import { ClockModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { Program, ProgramSchema } from './program.schema';
import { ProgramsController } from './programs.controller';
import { CreateProgram } from './usecases/create-program.use-case';
import { ReadPrograms } from './usecases/read-programs.use-case';
import { UpdateProgram } from './usecases/update-program.use-case';

/** The program catalog: operators change it, anyone holding a role in their partner reads it, programs.events.v1 publishes it. */
@Module({
  imports: [AccessModule, ClockModule, MongooseModule.forFeature([{ name: Program.name, schema: ProgramSchema }])],
  controllers: [ProgramsController],
  providers: [CreateProgram, UpdateProgram, ReadPrograms],
  exports: [ReadPrograms],
})
export class ProgramsModule {}
