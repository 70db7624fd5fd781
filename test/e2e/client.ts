/** How outside systems and people reach the platform in the end-to-end tests: HTTP, Kafka and SMTP only. */
import { fiscalYearOf, fiscalYearRange, nextFiscalYear, Topics } from '@lib/contracts';
import { eventually, TestKafka } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import type { ServiceName } from './platform';

/** Where the services are: a Platform under test, or the one `npm start` runs. */
export interface PlatformAddress {
  url(service: ServiceName): string;
  readonly operatorKey: string;
}

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * The fiscal year of tomorrow, and the next: the journey's programs are in CURRENT_FY (Enroll refuses a year that is
 * over). Tomorrow's, so that a run started on June 30 that goes past midnight still enrolls in a year that is not
 * over (enrolling in a year not started yet is allowed).
 */
export const CURRENT_FY = fiscalYearOf(new Date(Date.now() + 86_400_000));
export const NEXT_FY = nextFiscalYear(CURRENT_FY);

export class Client {
  constructor(private readonly platform: PlatformAddress) {}

  async call<T = any>(
    service: ServiceName,
    method: string,
    path: string,
    { token, body, operator, headers = {} }: { token?: string; body?: unknown; operator?: boolean; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> {
    const response = await fetch(`${this.platform.url(service)}${path}`, {
      method,
      headers: {
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
        ...(operator && { 'x-operator-key': this.platform.operatorKey }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  /** Calls and insists on the status, showing the answer when it differs. */
  async expect<T = any>(status: number, ...args: Parameters<Client['call']>): Promise<T> {
    const answer = await this.call<T>(...args);
    if (answer.status !== status) {
      throw new Error(`${args[1]} ${args[0]}${args[2]}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }

  async signIn(email: string): Promise<string> {
    const { accessToken } = await this.expect<{ accessToken: string }>(200, 'identity', 'POST', '/v1/dev/sign-in', { body: { email } });
    return accessToken;
  }
}

/** A partner with its locations and Global admin, registered by the operator. */
export async function registerPartner(client: Client, name: string, locations: Array<{ locationId: string; country: string }>) {
  const suffix = randomUUID().slice(0, 8);
  const globalAdminEmail = `ga.${suffix}@${name.toLowerCase()}.example`;
  const partner = await client.expect(201, 'identity', 'POST', '/v1/partners', {
    operator: true,
    body: {
      name,
      locations: locations.map((l) => ({ ...l, legalName: `${name} ${l.locationId}` })),
      globalAdmin: { email: globalAdminEmail, displayName: `${name} Global Admin` },
    },
  });
  return { partnerId: partner.partnerId as string, globalAdminId: partner.globalAdminUserId as string, globalAdminEmail, suffix };
}

export async function importUsers(client: Client, token: string, users: Array<{ externalId: string; email: string; givenName: string; familyName: string }>) {
  const report = await client.expect(200, 'identity', 'POST', '/v1/users/import', {
    token,
    body: {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      totalResults: users.length,
      Resources: users.map((u) => ({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        externalId: u.externalId,
        userName: u.email,
        name: { givenName: u.givenName, familyName: u.familyName },
        displayName: `${u.givenName} ${u.familyName}`,
        emails: [{ value: u.email, primary: true }],
        active: true,
      })),
    },
  });
  return Object.fromEntries((report.results as Array<{ email: string; userId: string }>).map((r) => [r.email, r.userId])) as Record<string, string>;
}

export async function assignRole(client: Client, token: string, userId: string, role: string, locationIds: string[]) {
  await client.expect(200, 'identity', 'POST', `/v1/users/${userId}/roles`, { token, body: { role, locationIds } });
}

export function eligibility(kafka: TestKafka, partnerId: string, locationId: string, programId: string, eligible: boolean, fiscalYear = CURRENT_FY) {
  return kafka.publishEvent(Topics.eligibility, locationId, {
    type: 'EligibilityDetermined',
    source: 'eligibility-system',
    partnerId,
    locationId,
    data: { programId, locationId, partnerId, fiscalYear, eligible, reasons: eligible ? [] : ['Revenue threshold not met'] },
  });
}

export const usBankProfile = (name: string) => ({
  name,
  country: 'US',
  currency: 'USD',
  paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
  account: { accountNumber: '000123456789', routingNumber: '021000021', accountType: 'CHECKING', bankName: 'Example Bank' },
  beneficiary: { name: 'Contoso Inc', email: 'payments@contoso.example' },
});

export const usTaxProfile = (legalName: string) => ({
  businessProfile: { legalName, address: { line1: '1 Main Street', city: 'Redmond', region: 'WA', postalCode: '98052', country: 'US' } },
  incorporation: 'US',
  incorporationCountry: 'US',
  taxForm: 'W-9',
  taxId: '12-3456789',
  documents: [{ fileName: 'w-9-signed.pdf', contentType: 'application/pdf', sizeBytes: 182044, uploadedAt: '2026-11-01T10:00:00Z' }],
  // Valid through the journey's two rollovers (into NEXT_FY, and the one after).
  expiresAt: `${fiscalYearRange(NEXT_FY).end.getUTCFullYear() + 1}-12-31`,
});

export { eventually };
