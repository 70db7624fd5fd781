import { PlatformModule } from '@lib/platform';
import { Module } from '@nestjs/common';

@Module({
  imports: [PlatformModule.forService({ name: 'enrollment' })],
})
export class AppModule {}
