import { PlatformModule } from '@lib/platform';
import { Module } from '@nestjs/common';

@Module({
  imports: [PlatformModule.forService({ name: 'notification' })],
})
export class AppModule {}
