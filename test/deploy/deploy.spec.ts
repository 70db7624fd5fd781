/**
 * The deployment files are checked against the code: every service, port, variable, secret and dependency they
 * name must exist, and every Kubernetes object must validate against the Kubernetes schemas.
 */
import { baseConfigSpec, loadConfig } from '@lib/platform';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_NODE_ARGS } from '../../libs/testing/src/infra/process';
import { loadAll, load } from 'js-yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';

const ROOT = join(__dirname, '..', '..');
const SERVICES = ['identity', 'invitations', 'enrollment', 'payout-profiles', 'notification'];

/** Every setting a service reads: the common ones and those its src/config.ts declares. */
function settingsOf(service: string): Set<string> {
  const names = new Set(Object.keys(baseConfigSpec(service)));
  const file = join(ROOT, 'services', service, 'src', 'config.ts');
  if (existsSync(file)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require(file) as Record<string, unknown>;
    for (const [exported, value] of Object.entries(module)) {
      if (/ConfigSpec$/.test(exported) && value && typeof value === 'object') {
        Object.keys(value).forEach((key) => names.add(key));
      }
    }
  }
  return names;
}

/** The settings of a service whose default points at this machine (localhost): a deployment must set them. */
function localDefaultsOf(service: string): string[] {
  const specs: Array<Record<string, { default?: unknown }>> = [baseConfigSpec(service) as never];
  const file = join(ROOT, 'services', service, 'src', 'config.ts');
  if (existsSync(file)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require(file) as Record<string, unknown>;
    for (const [exported, value] of Object.entries(module)) if (/ConfigSpec$/.test(exported) && value && typeof value === 'object') specs.push(value as never);
  }
  return specs.flatMap((spec) =>
    Object.entries(spec)
      .filter(([, setting]) => typeof setting?.default === 'string' && /\/\/(localhost|127\.0\.0\.1)\b/.test(setting.default))
      .map(([name]) => name),
  );
}

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown };
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function readObjects(file: string): K8sObject[] {
  return (loadAll(readFileSync(join(ROOT, 'deploy', 'k8s', file), 'utf8')) as K8sObject[]).filter(Boolean);
}

describe('Kubernetes manifests', () => {
  const files = readdirSync(join(ROOT, 'deploy', 'k8s')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  const secrets = readObjects('secrets.example.yaml');

  it.each(files)('%s validates against the Kubernetes schemas', (file) => {
    const objects = readObjects(file);
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(Model).toBeDefined();
      expect(() => new Model(object as never).validate()).not.toThrow();
    }
  });

  it('lists every service file and the namespace in the kustomization', () => {
    const kustomization = load(readFileSync(join(ROOT, 'deploy', 'k8s', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual(['namespace.yaml', ...SERVICES.map((s) => `${s}.yaml`)].sort());
  });

  it('creates the namespace it deploys into, and the example secrets go in it', () => {
    const { namespace } = load(readFileSync(join(ROOT, 'deploy', 'k8s', 'kustomization.yaml'), 'utf8')) as { namespace: string };
    expect(readObjects('namespace.yaml').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([`Namespace/${namespace}`]);
    // Checking the restricted Pod Security Standard (warned and audited: what else runs there is not refused).
    expect((readObjects('namespace.yaml')[0].metadata as { labels?: Record<string, string> }).labels).toMatchObject({
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    });
    expect(secrets.length).toBeGreaterThan(0);
    expect(secrets.filter((s) => s.metadata.namespace !== namespace).map((s) => s.metadata.name)).toEqual([]);
  });

  it('the example secrets applied unedited start no service with a credential everyone can read', () => {
    const value = (key: string) => secrets.map((s) => (s as { stringData?: Record<string, string> }).stringData?.[key]).find((v) => v !== undefined);
    const operator = { OPERATOR_TOKEN: baseConfigSpec('identity').OPERATOR_TOKEN };
    expect(() => loadConfig(operator, { OPERATOR_TOKEN: value('OPERATOR_TOKEN') })).toThrow(/OPERATOR_TOKEN/);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { payoutConfigSpec } = require(join(ROOT, 'services', 'payout-profiles', 'src', 'config.ts'));
    // Empty: off (only the operator credential is accepted where it would be).
    expect(loadConfig({ VALIDATOR_TOKEN: payoutConfigSpec.VALIDATOR_TOKEN }, { VALIDATOR_TOKEN: value('VALIDATOR_TOKEN') }).VALIDATOR_TOKEN).toBe('');
    // The optional fingerprint key as it stands is accepted (empty: derived from OPERATOR_TOKEN), not a start refused.
    const fingerprint = { IDEMPOTENCY_FINGERPRINT_KEY: baseConfigSpec('identity').IDEMPOTENCY_FINGERPRINT_KEY };
    expect(loadConfig(fingerprint, { IDEMPOTENCY_FINGERPRINT_KEY: value('IDEMPOTENCY_FINGERPRINT_KEY') }).IDEMPOTENCY_FINGERPRINT_KEY).toBe('');
    // Empty: /metrics open, as without the secret.
    const metrics = { METRICS_TOKEN: baseConfigSpec('identity').METRICS_TOKEN };
    expect(loadConfig(metrics, { METRICS_TOKEN: value('METRICS_TOKEN') }).METRICS_TOKEN).toBe('');
  });

  it.each(SERVICES)('%s: a Deployment with probes on the health endpoints, resources, a Service, a disruption budget and only known settings', (service) => {
    const objects = readObjects(`${service}.yaml`);
    const byKind = Object.fromEntries(objects.map((o) => [o.kind, o])) as Record<string, any>;
    expect(Object.keys(byKind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service']);
    // Evictions (a node drain) leave at least one replica running.
    expect(byKind.PodDisruptionBudget.spec.selector.matchLabels).toEqual(byKind.Deployment.spec.selector.matchLabels);
    expect(byKind.PodDisruptionBudget.spec.maxUnavailable).toBeLessThan(byKind.Deployment.spec.replicas);
    // ...but does not hold a drain while no replica is ready (a database or broker outage takes them all out).
    expect(byKind.PodDisruptionBudget.spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    // The replicas spread over nodes where the cluster has several.
    expect(byKind.Deployment.spec.template.spec.topologySpreadConstraints).toEqual([
      expect.objectContaining({ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: byKind.Deployment.spec.selector.matchLabels } }),
    ]);
    const container = byKind.Deployment.spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/health/live');
    // A rollout: the pod serves a few seconds after it leaves the endpoints, then drains within the grace period.
    const preStopSeconds = Number(container.lifecycle?.preStop?.exec?.command?.[1]);
    expect(preStopSeconds).toBeGreaterThan(0);
    const shutdownSeconds = Number(baseConfigSpec(service).SHUTDOWN_TIMEOUT_MS.default) / 1000;
    expect(byKind.Deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + shutdownSeconds);
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    // What the "restricted" Pod Security Standard asks, so that a namespace enforcing it admits the pods.
    expect(byKind.Deployment.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.image).toContain(`/${service}:`);
    expect(byKind.Service.spec.selector).toEqual(byKind.Deployment.spec.selector.matchLabels);
    expect(container.envFrom[0].configMapRef.name).toBe(byKind.ConfigMap.metadata.name);

    // V8's old space set explicitly (Node would give it half the container's limit), with 256 MB of the limit left.
    const nodeOptions = container.env.find((e: { name: string }) => e.name === 'NODE_OPTIONS')?.value ?? '';
    const oldSpaceMb = Number(/--max-old-space-size=(\d+)/.exec(nodeOptions)?.[1]);
    const limitMb = Number(/^(\d+)Mi$/.exec(container.resources.limits.memory)?.[1]);
    expect(oldSpaceMb).toBeGreaterThan(0);
    expect(oldSpaceMb).toBeLessThanOrEqual(limitMb - 256);

    // Every service serves its OpenAPI document (SPEC 4), in the cluster too: stated, so that it can be turned off.
    expect(byKind.ConfigMap.data.DOCS_ENABLED).toBe('true');

    const known = new Set([...settingsOf(service), 'NODE_OPTIONS']);
    const named = [...Object.keys(byKind.ConfigMap.data), ...container.env.map((e: { name: string }) => e.name)];
    expect(named.filter((name) => !known.has(name))).toEqual([]);
    // Settings without a default must be provided, and so must those whose default is this machine (a link to
    // localhost in an answer to a partner's browser, say).
    for (const required of ['MONGO_URL', 'KAFKA_BROKERS', 'JWT_ISSUER', 'JWKS_URL', 'OPERATOR_TOKEN', ...localDefaultsOf(service)]) {
      expect(named).toContain(required);
    }
    for (const env of container.env as Array<{ valueFrom?: { secretKeyRef?: { name: string; key: string } } }>) {
      const ref = env.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const secret = secrets.find((s) => s.metadata.name === ref.name) as { stringData?: Record<string, string> } | undefined;
      expect(secret?.stringData?.[ref.key]).toBeDefined();
    }
  });
});

// scripts/test.js leaves these out of the tests' environment (set in the shell for `npm start`, they would reach every
// service the tests start): every setting a service reads, no other name.
it("lists in scripts/service-settings.json every setting the services read", () => {
  const all = new Set(['identity', 'invitations', 'enrollment', 'payout-profiles', 'notification'].flatMap((service) => [...settingsOf(service)]));
  expect(JSON.parse(readFileSync(join(ROOT, 'scripts', 'service-settings.json'), 'utf8'))).toEqual([...all].sort());
});

// The key that reads decrypted payout details (payout-profiles' operator endpoint) is held by payout-profiles' pods only;
// so is the key of its stored requests' fingerprints (they carry tax ids, which that key and the database would let
// anyone find by trying every value).
it("gives payout-profiles an operator key and a fingerprint key of its own, which no other service's manifest references", () => {
  const secretOf = (service: string, name: string) => {
    const deployment = readObjects(`${service}.yaml`).find((doc) => doc.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string } } }> }> } } } };
    const env = deployment.spec.template.spec.containers[0].env;
    return env.find((e) => e.name === name)?.valueFrom?.secretKeyRef?.name;
  };
  expect(secretOf('payout-profiles', 'OPERATOR_TOKEN')).toBe('payout-profiles-secrets');
  expect(secretOf('payout-profiles', 'IDEMPOTENCY_FINGERPRINT_KEY')).toBe('payout-profiles-secrets');
  for (const service of ['identity', 'invitations', 'enrollment', 'notification']) {
    expect(secretOf(service, 'OPERATOR_TOKEN')).toBe('incentives-operator');
    expect(secretOf(service, 'IDEMPOTENCY_FINGERPRINT_KEY')).toBe('incentives-idempotency');
    expect(readFileSync(join(ROOT, 'deploy', 'k8s', `${service}.yaml`), 'utf8')).not.toContain('payout-profiles-secrets');
  }
});

/** Applies YAML merge keys (`<<: *anchor`) as Compose does. */
function resolveMerges(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolveMerges);
  if (!value || typeof value !== 'object') return value;
  const { '<<': merged, ...own } = value as Record<string, unknown>;
  const bases = (Array.isArray(merged) ? merged : merged ? [merged] : []).map(resolveMerges) as object[];
  const resolved = Object.fromEntries(Object.entries(own).map(([k, v]) => [k, resolveMerges(v)]));
  return Object.assign({}, ...bases, resolved);
}

describe('docker-compose.yml', () => {
  const compose = resolveMerges(load(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'))) as {
    services: Record<
      string,
      {
        build?: { context: string; dockerfile: string };
        environment?: Record<string, string>;
        depends_on?: Record<string, unknown>;
        ports?: string[];
        healthcheck?: unknown;
        image?: string;
        volumes?: string[];
        stop_grace_period?: string;
      }
    >;
  };

  it('runs real Kafka in KRaft mode and MongoDB as a replica set, with health checks', () => {
    expect(compose.services.kafka.image).toMatch(/kafka/);
    expect((compose.services.kafka.environment ?? {}).KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(JSON.stringify(compose.services.mongo)).toContain('--replSet');
    expect(compose.services.kafka.healthcheck).toBeDefined();
    // Healthy only with a primary: the exit code is what Docker reads, not what the script prints.
    expect(JSON.stringify(compose.services.mongo.healthcheck)).toContain('quit(db.hello().isWritablePrimary ? 0 : 1)');
  });

  it.each(SERVICES)('%s: built from its Dockerfile, with known settings, a port and existing dependencies', (service) => {
    const definition = compose.services[service];
    expect(definition).toBeDefined();
    expect(existsSync(join(ROOT, definition.build!.context, definition.build!.dockerfile))).toBe(true);
    const known = settingsOf(service);
    expect(Object.keys(definition.environment ?? {}).filter((name) => !known.has(name))).toEqual([]);
    expect(definition.environment?.MONGO_DB).toBeTruthy();
    expect(definition.ports?.some((p) => p.endsWith(`:${definition.environment?.PORT}`))).toBe(true);
    // Published on this machine only (development sign-in may be on): Docker binds a port without an address everywhere.
    for (const port of definition.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
    for (const dependency of Object.keys(definition.depends_on ?? {})) expect(compose.services[dependency]).toBeDefined();
  });

  // A URL or broker list naming a host that is no service, or a port it does not listen on, fails only at run time.
  it.each(SERVICES)('%s: every host:port its settings name is a compose service listening there', (service) => {
    // What the images listen on by default (mongo, Jaeger's OTLP and UI, Mailpit's SMTP and UI); Kafka from its
    // listeners; the platform's services on their PORT.
    const listeners = (host: string): number[] => {
      const definition = compose.services[host];
      if (!definition) return [];
      if (host === 'kafka') return [...(definition.environment?.KAFKA_LISTENERS ?? '').matchAll(/:(\d+)/g)].map((m) => Number(m[1]));
      const defaults: Record<string, number[]> = { mongo: [27017], jaeger: [4317, 4318, 16686], mail: [1025, 8025] };
      return defaults[host] ?? (definition.environment?.PORT ? [Number(definition.environment.PORT)] : []);
    };
    const named = Object.entries(compose.services[service].environment ?? {}).flatMap(([name, value]) =>
      [...String(value).matchAll(/(?:^|[/,@])([a-z][a-z0-9-]*):(\d+)(?=[/?,]|$)/g)].map((m) => ({ name, host: m[1], port: Number(m[2]) })),
    );
    expect(named.map(({ name }) => name)).toEqual(expect.arrayContaining(['MONGO_URL', 'KAFKA_BROKERS', 'JWKS_URL']));
    expect(named.filter(({ host, port }) => !listeners(host).includes(port))).toEqual([]);
  });

  it('lets this machine`s shell reach Kafka (npm run event, npm run dlq) on a listener advertised as 127.0.0.1, published there only', () => {
    const kafka = compose.services.kafka;
    const advertised = Object.fromEntries(
      (kafka.environment?.KAFKA_ADVERTISED_LISTENERS ?? '').split(',').map((listener) => listener.split('://') as [string, string]),
    );
    const host = Object.entries(advertised).find(([, address]) => address.startsWith('127.0.0.1:'));
    expect(host).toBeDefined();
    const port = host![1].split(':')[1];
    expect(kafka.environment?.KAFKA_LISTENERS).toContain(`${host![0]}://:${port}`);
    expect(kafka.environment?.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).toContain(`${host![0]}:`);
    expect(kafka.ports).toEqual([`127.0.0.1:${port}:${port}`]);
    // The services keep the listener they reach as kafka:9092.
    expect(advertised.PLAINTEXT).toBe('kafka:9092');
  });

  it('keeps Kafka`s data on its volume (the image takes none of its own settings once KAFKA_* variables are set)', () => {
    const kafka = compose.services.kafka;
    const mounts = (kafka.volumes ?? []).map((v) => v.split(':')[1]);
    expect(mounts).toContain(kafka.environment?.KAFKA_LOG_DIRS);
  });

  it.each(SERVICES)('%s: no default operator key, and time for the graceful shutdown before Docker kills it', (service) => {
    const definition = compose.services[service];
    // `${OPERATOR_TOKEN:?...}`: compose refuses to start without one (a known key would read decrypted payout details).
    expect(definition.environment?.OPERATOR_TOKEN).toMatch(/^\$\{OPERATOR_TOKEN:\?/);
    const grace = /^(\d+)s$/.exec(definition.stop_grace_period ?? '');
    const shutdownMs = Number(definition.environment?.SHUTDOWN_TIMEOUT_MS ?? (baseConfigSpec(service) as Record<string, { default?: unknown }>).SHUTDOWN_TIMEOUT_MS.default);
    expect(Number(grace?.[1]) * 1000).toBeGreaterThan(shutdownMs);
  });

  it('gives each service its own database', () => {
    const databases = SERVICES.map((s) => compose.services[s].environment?.MONGO_DB);
    expect(new Set(databases).size).toBe(SERVICES.length);
  });
});

describe('Dockerfiles', () => {
  it.each(SERVICES)('%s: multi-stage, non-root, health-checked, built from its own folder plus the libraries', (service) => {
    const dockerfile = readFileSync(join(ROOT, 'services', service, 'Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toContain(`COPY services/${service} services/${service}`);
    expect(dockerfile).not.toMatch(/COPY services\/(?!\$|[a-z-]+ services)/);
    for (const other of SERVICES.filter((s) => s !== service)) expect(dockerfile).not.toContain(`services/${other}`);
    const entry = /CMD \[.*"dist\/services\/([a-z-]+)\/src\/main\.js"\]/.exec(dockerfile);
    expect(entry?.[1]).toBe(service);
    // The image runs the service with the node options every process this project starts has (IMAGE_NODE_ARGS).
    expect(dockerfile).toContain(`CMD ${JSON.stringify(['node', ...IMAGE_NODE_ARGS, `dist/services/${service}/src/main.js`]).replace(/","/g, '", "')}`);
    expect(existsSync(join(ROOT, 'services', service, 'src', 'main.ts'))).toBe(true);
    expect(existsSync(join(ROOT, 'services', service, 'tsconfig.app.json'))).toBe(true);
  });
});

describe('nest-cli.json', () => {
  const cli = JSON.parse(readFileSync(join(ROOT, 'nest-cli.json'), 'utf8')) as {
    monorepo: boolean;
    projects: Record<string, { type: string; root: string; sourceRoot: string; entryFile?: string; compilerOptions?: { tsConfigPath?: string } }>;
  };

  it.each(SERVICES)('%s: an application built with its tsconfig.app.json, whose entry file is its main.ts', (service) => {
    const project = cli.projects[service];
    expect(project).toMatchObject({ type: 'application', root: `services/${service}`, sourceRoot: `services/${service}/src` });
    expect(existsSync(join(ROOT, project.compilerOptions!.tsConfigPath!))).toBe(true);
    expect(project.compilerOptions!.tsConfigPath).toBe(`services/${service}/tsconfig.app.json`);
    // The path under the build's outDir (dist/, rootDir the repository): what the Dockerfile's CMD runs.
    expect(existsSync(join(ROOT, `${project.entryFile}.ts`))).toBe(true);
  });

  it('is a monorepo listing the five services and every library, and nothing that does not exist', () => {
    expect(cli.monorepo).toBe(true);
    const libraries = readdirSync(join(ROOT, 'libs')).filter((name) => existsSync(join(ROOT, 'libs', name, 'src'))).sort();
    expect(Object.keys(cli.projects).sort()).toEqual([...SERVICES, ...libraries].sort());
    for (const project of Object.values(cli.projects)) expect(existsSync(join(ROOT, project.sourceRoot))).toBe(true);
  });
});

describe('README', () => {
  it('lists every setting all services read, with its default', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.split('### Settings every service reads')[1]?.split(/\n#{2,3} /)[0] ?? '';
    const rows = new Map([...section.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1], m[2].trim()]));
    const spec = baseConfigSpec('<service>') as Record<string, { default?: unknown }>;
    expect([...rows.keys()]).toEqual(Object.keys(spec));
    for (const [name, setting] of Object.entries(spec)) {
      // No default: required. A default of undefined: optional (none), or required with another setting (requiredWhen).
      const shown = !('default' in setting)
        ? '(required)'
        : setting.default === undefined
          ? '(none)'
          : `\`${typeof setting.default === 'string' ? setting.default : JSON.stringify(setting.default)}\``;
      expect(`${name}: ${rows.get(name)}`).toContain(`${name}: ${shown}`);
    }
  });
});
