import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AccessPolicy } from './access.policy';
import { AccessGrant, AccessGrantSchema, AccessLocation, AccessLocationSchema, AccessUser, AccessUserSchema } from './access.schemas';
import { AccessEventsController, AccessViewUpdater } from './access.view';

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
  providers: [AccessPolicy, AccessViewUpdater],
  exports: [AccessPolicy, AccessViewUpdater, MongooseModule],
})
export class AccessModule {}
