import { Module } from '@nestjs/common';
import { SigningKeys } from './signing-keys';

/** The issuer's key. Imported by the platform's key source (to verify) and by the app (to sign and publish). */
@Module({
  providers: [SigningKeys],
  exports: [SigningKeys],
})
export class TokensModule {}
