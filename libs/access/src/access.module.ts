import { IDEMPOTENT_REPLAY_CHECK, IdempotentReplayCheck, Principal } from '@lib/platform';
import { Module, Provider } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AccessPolicy } from './access.policy';
import { AccessGrant, AccessGrantSchema, AccessLocation, AccessLocationSchema, AccessUser, AccessUserSchema } from './access.schemas';
import { AccessEventsController, AccessViewUpdater, IdentityEventFollowers } from './access.view';

/**
 * A stored Idempotency-Key answer is sent again only to a caller who is still an active user of their partner (the
 * 403 of `actor`), as every endpoint would answer them; exported, so that each module importing this one has it.
 */
const replayCheck: Provider = {
  provide: IDEMPOTENT_REPLAY_CHECK,
  inject: [AccessPolicy],
  useFactory: (policy: AccessPolicy): IdempotentReplayCheck => async (principal: Principal) => {
    await policy.actor(principal);
  },
};

/** This service's view of partners, locations, users and roles, and the policy that reads it. */
@Module({
  imports: [
    MongooseModule.forFeature([
      { name: AccessUser.name, schema: AccessUserSchema },
      { name: AccessLocation.name, schema: AccessLocationSchema },
      { name: AccessGrant.name, schema: AccessGrantSchema },
    ]),
  ],
  controllers: [AccessEventsController],
  providers: [AccessPolicy, AccessViewUpdater, IdentityEventFollowers, replayCheck],
  exports: [AccessPolicy, AccessViewUpdater, IdentityEventFollowers, MongooseModule, IDEMPOTENT_REPLAY_CHECK],
})
export class AccessModule {}
