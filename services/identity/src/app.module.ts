import { CONFIG, PlatformModule } from '@lib/platform';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { IdentityAccess, identityReplayCheck } from './access/identity-access';
import { identityConfigSpec } from './config';
import { LocationClaim, LocationClaimSchema, Partner, PartnerSchema } from './partners/partner.schema';
import { PartnersController } from './partners/partners.controller';
import { PartnersRepository } from './partners/partners.repository';
import { AddLocation } from './partners/usecases/add-location.use-case';
import { CompletePartnerBootstrap } from './partners/usecases/complete-partner-bootstrap.use-case';
import { GetPartner } from './partners/usecases/get-partner.use-case';
import { RegisterPartner } from './partners/usecases/register-partner.use-case';
import { RolesController } from './roles/roles.controller';
import { AssignRole } from './roles/usecases/assign-role.use-case';
import { ListIncentivesAdmins } from './roles/usecases/list-incentives-admins.use-case';
import { RevokeRole } from './roles/usecases/revoke-role.use-case';
import { RoleChangeWriter } from './roles/usecases/role-change-writer';
import { RoleChangeChecks } from './roles/usecases/role-targets';
import { DevSignInController, DevSignInEnabled } from './tokens/dev-sign-in.controller';
import { JwksController } from './tokens/jwks.controller';
import { SigningKeys } from './tokens/signing-keys';
import { TokensModule } from './tokens/tokens.module';
import { DevSignIn } from './tokens/usecases/dev-sign-in.use-case';
import { verificationKeys } from './tokens/verification-keys';
import { GlobalAdminKeeper } from './users/global-admin-keeper';
import { User, UserSchema } from './users/user.schema';
import { UsersController } from './users/users.controller';
import { UsersRepository } from './users/users.repository';
import { CreateUser } from './users/usecases/create-user.use-case';
import { DeactivateUser } from './users/usecases/deactivate-user.use-case';
import { ReactivateUser } from './users/usecases/reactivate-user.use-case';
import { GetUser } from './users/usecases/get-user.use-case';
import { ImportUsers } from './users/usecases/import-users.use-case';
import { ListUsers } from './users/usecases/list-users.use-case';

@Module({
  imports: [
    PlatformModule.forService({
      name: 'identity',
      configSpec: identityConfigSpec,
      // TOKEN_ISSUER=self: identity is the issuer and verifies with its own key; external: the JWKS at JWKS_URL.
      keySource: {
        imports: [TokensModule],
        inject: [CONFIG, SigningKeys],
        useFactory: verificationKeys,
      },
    }),
    TokensModule,
    // The relay publishes a partner's events in the order written across these collections (PartnerRegistered before
    // the first admin's UserCreated). Not across replicas (another replica's scan can take the user first): consumers
    // apply each on its own (the role view, invitations' late-admin check).
    MongooseModule.forFeature([
      { name: Partner.name, schema: PartnerSchema },
      { name: LocationClaim.name, schema: LocationClaimSchema },
      { name: User.name, schema: UserSchema },
    ]),
  ],
  controllers: [JwksController, DevSignInController, PartnersController, UsersController, RolesController],
  providers: [
    IdentityAccess,
    identityReplayCheck,
    PartnersRepository,
    UsersRepository,
    RegisterPartner,
    CompletePartnerBootstrap,
    AddLocation,
    GetPartner,
    CreateUser,
    ListUsers,
    GetUser,
    DeactivateUser,
    ReactivateUser,
    ImportUsers,
    AssignRole,
    RevokeRole,
    ListIncentivesAdmins,
    RoleChangeChecks,
    RoleChangeWriter,
    GlobalAdminKeeper,
    DevSignIn,
    DevSignInEnabled,
  ],
})
export class AppModule {}
