import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ViewsRepository } from './views.repository';
import { VIEW_MODELS } from './views.schemas';

/** This service's views of facts owned elsewhere (fed by the handlers in enrollments/handlers). */
@Module({
  imports: [MongooseModule.forFeature(VIEW_MODELS)],
  providers: [ViewsRepository],
  exports: [ViewsRepository],
})
export class ViewsModule {}
