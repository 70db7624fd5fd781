import { Logger } from '@nestjs/common';
import type { IdentityConfig } from '../config';
import { SigningKeys } from './signing-keys';
import { verificationKeys } from './verification-keys';

describe('verificationKeys', () => {
  it('TOKEN_ISSUER=external: none here (the platform fetches JWKS_URL), logged without the user and password the URL holds', () => {
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    try {
      const config = { TOKEN_ISSUER: 'external', JWT_ISSUER: 'https://idp.example', JWKS_URL: 'https://svc:S3cret@idp.example/keys?x=1' } as IdentityConfig;
      expect(verificationKeys(config, {} as SigningKeys)).toBeNull();
      const lines = log.mock.calls.map(([message]) => String(message));
      expect(lines).toEqual(['TOKEN_ISSUER=external: verifying tokens of https://idp.example with the JWKS at https://idp.example/keys']);
    } finally {
      log.mockRestore();
    }
  });
});
