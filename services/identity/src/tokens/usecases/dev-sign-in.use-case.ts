import { CHALLENGES, CONFIG, Problems, ProblemException } from '@lib/platform';
import { HttpStatus, Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { IdentityConfig } from '../../config';
import { UsersRepository } from '../../users/users.repository';
import { DevSignInInput } from '../dto/sign-in.dto';
import { IssuedToken, SigningKeys } from '../signing-keys';

/**
 * Development sign-in by email alone: issues the same access token a real OIDC issuer would. Refused with 404
 * unless DEV_SIGN_IN_ENABLED=true (the path stays routed: another method gets 405).
 */
@Injectable()
export class DevSignIn {
  constructor(
    @Inject(CONFIG) private readonly config: IdentityConfig,
    private readonly users: UsersRepository,
    private readonly keys: SigningKeys,
  ) {}

  async execute(input: DevSignInInput): Promise<IssuedToken> {
    if (!this.config.DEV_SIGN_IN_ENABLED) throw new NotFoundException('Cannot POST /v1/dev/sign-in');
    const found = (await this.users.findEverywhereByEmail(input.email)).filter(
      (user) => input.partnerId === undefined || user.partnerId === input.partnerId,
    );
    if (found.length === 0) {
      throw new ProblemException(HttpStatus.UNAUTHORIZED, 'unauthorized', 'Sign-in failed', 'No user has this email.').challenge(CHALLENGES.bearer);
    }
    if (found.length > 1) {
      throw Problems.field('partnerId', `this email exists in several partners (${found.map((u) => u.partnerId).join(', ')}); say which one`);
    }
    const [user] = found;
    if (!user.active) throw Problems.forbidden('This account is deactivated.');
    return this.keys.issue(user._id, user.partnerId);
  }
}
