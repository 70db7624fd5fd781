import { PlatformModule } from '@lib/platform';
import { Module } from '@nestjs/common';

@Module({
  imports: [PlatformModule.forService({ name: 'identity' })],
})
export class AppModule {}
