import { ApiProperty } from '@nestjs/swagger';

/** An RS256 public key (RFC 7517). */
export class JwkView {
  @ApiProperty({ example: 'RSA' }) kty!: string;
  @ApiProperty({ description: 'Modulus, base64url' }) n!: string;
  @ApiProperty({ example: 'AQAB', description: 'Exponent, base64url' }) e!: string;
  @ApiProperty({ description: 'The kid of the tokens it verifies: JWT_KEY_ID for a configured key; for a key generated at start, JWT_KEY_ID followed by the key\'s thumbprint' }) kid!: string;
  @ApiProperty({ example: 'RS256' }) alg!: string;
  @ApiProperty({ example: 'sig' }) use!: string;
}

export class JwksView {
  @ApiProperty({ type: [JwkView] }) keys!: JwkView[];
}
