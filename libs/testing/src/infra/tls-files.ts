import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files of a throwaway certificate authority, a server certificate for 127.0.0.1 and a client certificate. */
export interface TlsFiles {
  /** The CA's certificate: what clients and the server check the other side against. */
  caCert: string;
  /** The server's private key (PKCS#8, unencrypted) followed by its certificate: a Kafka PEM keystore. */
  serverKeyAndCert: string;
  clientCert: string;
  clientKey: string;
}

/**
 * Makes them in `dir` with the openssl command-line tool (EC P-256 keys, one day of validity): tests of TLS
 * connections to a real server. The server certificate names 127.0.0.1 and localhost, as a client checks it.
 */
export function makeTlsFiles(dir: string): TlsFiles {
  mkdirSync(dir, { recursive: true });
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path(name));
  const signed = (name: string, subject: string, extensions: string) => {
    key(`${name}.key`);
    openssl('req', '-new', '-key', path(`${name}.key`), '-subj', subject, '-out', path(`${name}.csr`));
    writeFileSync(path(`${name}.ext`), extensions);
    openssl('x509', '-req', '-in', path(`${name}.csr`), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial', '-days', '1', '-sha256', '-extfile', path(`${name}.ext`), '-out', path(`${name}.pem`));
  };
  key('ca.key');
  openssl('req', '-x509', '-new', '-key', path('ca.key'), '-subj', '/CN=test-ca', '-days', '1', '-sha256', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', path('ca.pem'));
  signed('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed('client', '/CN=platform-client', 'extendedKeyUsage=clientAuth\n');
  writeFileSync(path('server-keystore.pem'), readFileSync(path('server.key'), 'utf8') + readFileSync(path('server.pem'), 'utf8'));
  return { caCert: path('ca.pem'), serverKeyAndCert: path('server-keystore.pem'), clientCert: path('client.pem'), clientKey: path('client.key') };
}
