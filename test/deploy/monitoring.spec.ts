/**
 * deploy/prometheus/alerts.yml against the code: every expression parses as PromQL (Prometheus' own grammar), names
 * only series the services expose, filters, groups and matches by labels those series keep, applies rate-like
 * functions to counters and delta-like ones to gauges, puts `offset` only on selectors, and its annotations use only
 * labels its result keeps. Its unit tests (alerts.test.yml) pass. The README's Monitoring section names every alert.
 */
import { MessagingMetrics } from '@lib/messaging';
import { collectProcessMetrics } from '@lib/platform';
import { parser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode } from '@lezer/common';
import { ensureGoBinary } from '@lib/testing/infra/go-build';
import { load, loadAll } from 'js-yaml';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { register } from 'prom-client';
import { DeliveryMetrics } from '../../services/notification/src/delivery/delivery-metrics';
import { ValidationMetrics } from '../../services/payout-profiles/src/validation/validation-metrics';

const ROOT = join(__dirname, '..', '..');
const ALERTS = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
/** Prometheus' own rule loader, built from deploy/prometheus/check. */
const PROMCHECK = {
  sourceDir: join('deploy', 'prometheus', 'check'),
  binary: join('.local', 'bin', 'promcheck'),
  label: 'the first build fetches Prometheus modules from the Go module proxy: a few minutes',
};

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (load(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap(
  (group) => group.rules,
);

interface Series {
  labels: Set<string>;
  /** What rate-like functions may read (a counter, or a histogram's _bucket, _count, _sum) or not (a gauge). */
  counter: boolean;
}

/** Every series name the services expose, with its labels (`service` on all: the registry's default label). */
function exposedSeries(): Map<string, Series> {
  collectProcessMetrics('test');
  new MessagingMetrics();
  new DeliveryMetrics();
  new ValidationMetrics();
  const series = new Map<string, Series>();
  for (const metric of register.getMetricsAsArray() as unknown as Array<{ name: string; labelNames?: string[]; constructor: { name: string } }>) {
    const labels = new Set(['service', ...(metric.labelNames ?? [])]);
    const kind = metric.constructor.name;
    if (kind === 'Histogram') {
      series.set(`${metric.name}_bucket`, { labels: new Set([...labels, 'le']), counter: true });
      series.set(`${metric.name}_sum`, { labels, counter: true });
      series.set(`${metric.name}_count`, { labels, counter: true });
    } else series.set(metric.name, { labels, counter: kind === 'Counter' });
  }
  return series;
}
const SERIES = exposedSeries();

/**
 * The labels a scrape gives every series of a target (`job`, `instance`, and the target labels prometheus.yml's
 * relabelling sets), and `up`, the series a scrape writes with those labels alone, also when the target does not
 * answer. What the rules read: the services' series with these labels, and `up`.
 */
const SCRAPE_LABELS = [
  'job',
  'instance',
  ...(load(readFileSync(join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ relabel_configs: Array<{ target_label?: string }> }> }).scrape_configs
    .flatMap((job) => job.relabel_configs.map((relabel) => relabel.target_label))
    .filter((label): label is string => label !== undefined && !label.startsWith('__')),
];
const SCRAPED = new Map<string, Series>([
  ...[...SERIES].map(([name, series]) => [name, { ...series, labels: new Set([...series.labels, ...SCRAPE_LABELS]) }] as const),
  ['up', { labels: new Set(SCRAPE_LABELS), counter: false }],
]);

const RATE_LIKE = new Set(['rate', 'irate', 'increase', 'resets']);
const GAUGE_LIKE = new Set(['delta', 'idelta', 'deriv', 'predict_linear', 'holt_winters', 'double_exponential_smoothing']);

const text = (expr: string, node: SyntaxNode) => expr.slice(node.from, node.to);
const children = (node: SyntaxNode): SyntaxNode[] => {
  const found: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) found.push(child);
  return found;
};
function descendants(node: SyntaxNode, type: string): SyntaxNode[] {
  return children(node).flatMap((child) => (child.type.name === type ? [child] : []).concat(descendants(child, type)));
}
const labelNames = (expr: string, node: SyntaxNode) => descendants(node, 'LabelName').map((label) => text(expr, label));
/** The metric name and the label names a vector selector filters on (`=` matchers apart). */
function selector(expr: string, node: SyntaxNode): { metric: string; matched: string[]; equal: string[] } {
  const matchers = descendants(node, 'UnquotedLabelMatcher');
  return {
    metric: text(expr, node.getChild('Identifier')!),
    matched: matchers.map((matcher) => text(expr, matcher.getChild('LabelName')!)),
    equal: matchers.filter((matcher) => text(expr, matcher.getChild('MatchOp')!) === '=').map((matcher) => text(expr, matcher.getChild('LabelName')!)),
  };
}
const intersect = (a: Set<string>, b: Set<string>) => new Set([...a].filter((label) => b.has(label)));

/**
 * The labels an expression's result keeps: an aggregation `by (...)` keeps those, one `without (...)` the others, one
 * with neither none; `or` the labels both sides keep, another binary operator its left side's (a scalar side aside); a
 * function its vector argument's (histogram_quantile without `le`; absent* the `=` matchers); a selector its series'
 * labels. `undefined` for a scalar.
 */
function resultLabels(expr: string, node: SyntaxNode): Set<string> | undefined {
  switch (node.type.name) {
    case 'PromQL':
    case 'ParenExpr':
    case 'MatrixSelector':
    case 'OffsetExpr':
    case 'SubqueryExpr':
    case 'FunctionCallBody':
      return children(node).map((child) => resultLabels(expr, child)).find((labels) => labels !== undefined);
    case 'BinaryExpr': {
      const [left, right] = [resultLabels(expr, node.firstChild!), resultLabels(expr, node.lastChild!)];
      if (node.getChild('Or') && left && right) return intersect(left, right);
      return left ?? right;
    }
    case 'AggregateExpr': {
      const modifier = node.getChild('AggregateModifier');
      if (!modifier) return new Set();
      const grouping = new Set(labelNames(expr, modifier));
      if (modifier.getChild('By')) return grouping;
      const inner = resultLabels(expr, node.getChild('FunctionCallBody')!) ?? new Set();
      return new Set([...inner].filter((label) => !grouping.has(label)));
    }
    case 'FunctionCall': {
      const name = text(expr, node.getChild('FunctionIdentifier')!);
      if (name === 'time' || name === 'vector' || name === 'scalar') return name === 'vector' ? new Set() : undefined;
      const body = node.getChild('FunctionCallBody')!;
      if (name === 'absent' || name === 'absent_over_time') return new Set(descendants(body, 'VectorSelector').flatMap((found) => selector(expr, found).equal));
      const inner = resultLabels(expr, body);
      return name === 'histogram_quantile' && inner ? new Set([...inner].filter((label) => label !== 'le')) : inner;
    }
    case 'VectorSelector':
      return SCRAPED.get(selector(expr, node).metric)?.labels ?? new Set();
    default:
      return undefined;
  }
}

/** What is wrong with a rule, as Prometheus would read it against what the services expose. */
function problemsOf(rule: Rule): string[] {
  const { expr } = rule;
  const tree = parser.parse(expr);
  const problems: string[] = [];
  tree.iterate({ enter: (node) => void (node.type.isError && problems.push(`syntax at ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 20))}`)) });
  const top = tree.topNode;
  const selectors = descendants(top, 'VectorSelector');
  if (selectors.length === 0) problems.push('selects no series');
  for (const node of selectors) {
    const { metric, matched } = selector(expr, node);
    const series = SCRAPED.get(metric);
    if (!series) problems.push(`no series ${metric}`);
    else for (const label of matched.filter((name) => !series.labels.has(name))) problems.push(`${metric} has no label ${label}`);
  }
  for (const aggregate of descendants(top, 'AggregateExpr')) {
    const modifier = aggregate.getChild('AggregateModifier');
    const kept = resultLabels(expr, aggregate.getChild('FunctionCallBody')!) ?? new Set();
    for (const label of modifier ? labelNames(expr, modifier) : []) if (!kept.has(label)) problems.push(`${text(expr, aggregate)}: grouped by ${label}, which what it aggregates does not have`);
  }
  for (const binary of descendants(top, 'BinaryExpr')) {
    const matching = binary.getChild('MatchingModifierClause');
    if (!matching) continue;
    const [left, right] = [resultLabels(expr, binary.firstChild!) ?? new Set<string>(), resultLabels(expr, binary.lastChild!) ?? new Set<string>()];
    const named = labelNames(expr, matching.getChild('GroupingLabels') ?? matching);
    for (const label of named) if (!left.has(label) || !right.has(label)) problems.push(`matched on ${label}, which a side of ${text(expr, binary)} does not have`);
  }
  for (const call of descendants(top, 'FunctionCall')) {
    const name = text(expr, call.getChild('FunctionIdentifier')!);
    if (!RATE_LIKE.has(name) && !GAUGE_LIKE.has(name)) continue;
    for (const node of descendants(call, 'VectorSelector')) {
      const series = SCRAPED.get(selector(expr, node).metric);
      if (series && series.counter !== RATE_LIKE.has(name)) problems.push(`${name}() of ${series.counter ? 'a counter' : 'a gauge'}: ${text(expr, node)}`);
    }
  }
  // Prometheus reads `a unless b offset 1h` as an offset of b; lezer-promql (the grammar of Prometheus' UI) of the
  // whole binary expression. The rules put such an offset in parentheses, so that both read it alike.
  for (const offset of descendants(top, 'OffsetExpr')) {
    if (!['VectorSelector', 'MatrixSelector', 'SubqueryExpr'].includes(offset.firstChild!.type.name)) problems.push(`offset of ${text(expr, offset.firstChild!)}`);
  }
  const kept = resultLabels(expr, top) ?? new Set<string>();
  for (const template of Object.values(rule.annotations ?? {})) {
    for (const [, label] of template.matchAll(/\$labels\.(\w+)/g)) if (!kept.has(label)) problems.push(`annotation uses ${label}, which the result does not keep`);
    if (/\.Labels\b/.test(template)) problems.push('annotation uses .Labels (Prometheus templates use $labels)');
  }
  return problems;
}

describe('deploy/prometheus/alerts.yml', () => {
  it('has rules, each named once, with a severity and a summary', () => {
    expect(rules.length).toBeGreaterThan(5);
    expect(new Set(rules.map((rule) => rule.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect({ alert: rule.alert, severity: rule.labels?.severity }).toEqual({ alert: rule.alert, severity: expect.stringMatching(/^(warning|critical)$/) });
      expect({ alert: rule.alert, summary: typeof rule.annotations?.summary }).toEqual({ alert: rule.alert, summary: 'string' });
      if (rule.for !== undefined) expect({ alert: rule.alert, for: rule.for }).toEqual({ alert: rule.alert, for: expect.stringMatching(/^\d+[smh]$/) });
    }
  });

  // Prometheus gives every scraped series the target's `job`, `instance` and relabelled target labels: a series' own
  // label of that name is renamed `exported_job` (honor_labels off), so a rule selecting it never matches (an `absent`
  // rule fires for good).
  it('no series the services expose has a label Prometheus sets at scrape time (job, instance, pod, app)', () => {
    expect(SCRAPE_LABELS).toEqual(expect.arrayContaining(['job', 'instance', 'pod', 'app']));
    const clashing = [...SERIES].filter(([, { labels }]) => SCRAPE_LABELS.some((label) => labels.has(label))).map(([name]) => name);
    expect(clashing).toEqual([]);
    expect(SERIES.get('service_dependency_up')?.labels).toEqual(new Set(['service', 'dependency']));
  });

  it.each(rules.map((rule) => [rule.alert, rule] as const))('%s parses, and reads only series, labels and functions that fit what the services expose', (_, rule) => {
    expect(problemsOf(rule)).toEqual([]);
  });

  it('catches what would make a rule wrong (the checks above can fail)', () => {
    const problems = (expr: string, summary = 'x') => problemsOf({ alert: 'Bad', expr, annotations: { summary } });
    expect(problems('outbox_oldest_unpublished_seconds > 1')).toEqual([]);
    expect(problems('outbox_oldest_unpublishd_seconds > 1')).toEqual(['no series outbox_oldest_unpublishd_seconds']);
    expect(problems('sum by (service (x')).toEqual(expect.arrayContaining([expect.stringMatching(/^syntax/)]));
    expect(problems('kafka_consumer_group_lag{topc="t"} > 1')).toEqual(['kafka_consumer_group_lag has no label topc']);
    expect(problems('sum by (topic) (sum by (service) (kafka_consumer_group_lag)) > 1')).toEqual([expect.stringMatching(/grouped by topic/)]);
    expect(problems('sum by (service) (kafka_consumer_group_lag) > 1', '{{ $labels.group }}')).toEqual(['annotation uses group, which the result does not keep']);
    expect(problems('kafka_consumer_group_lag > 1', '{{ .Labels.group }}')).toEqual(['annotation uses .Labels (Prometheus templates use $labels)']);
    expect(problems('sum by (service) (kafka_consumer_group_lag) / on (group) sum by (service) (kafka_consumer_group_lag)')).toEqual([expect.stringMatching(/matched on group/)]);
    expect(problems('rate(outbox_oldest_unpublished_seconds[5m]) > 0')).toEqual([expect.stringMatching(/^rate\(\) of a gauge/)]);
    expect(problems('delta(outbox_events_published_total[5m]) > 0')).toEqual([expect.stringMatching(/^delta\(\) of a counter/)]);
    expect(problems('outbox_events_parked_total > 0 unless outbox_events_parked_total offset 1h')).toEqual([expect.stringMatching(/^offset of/)]);
    expect(problems('outbox_events_parked_total > 0 unless (outbox_events_parked_total offset 1h)')).toEqual([]);
    expect(SERIES.get('kafka_consumer_group_lag')?.labels).toEqual(new Set(['service', 'group', 'topic', 'partition']));
    expect(problems('up{service="identity"} == 0')).toEqual(['up has no label service']);
    expect(problems('absent(up{app="identity"})', '{{ $labels.pod }}')).toEqual(['annotation uses pod, which the result does not keep']);
  });

  it("loads in Prometheus' own rule loader and PromQL parser (the version deploy/prometheus/check pins), which refuses a broken rule", async () => {
    const binary = await ensureGoBinary(ROOT, PROMCHECK);
    const { stdout } = await promisify(execFile)(binary, [ALERTS]);
    expect(stdout.trim().split('\n').map((line) => line.slice(0, line.indexOf(':')))).toEqual(rules.map((rule) => rule.alert));

    const dir = join(ROOT, '.local', 'run', `promcheck-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const broken = join(dir, 'broken.yml');
      writeFileSync(broken, 'groups:\n  - name: t\n    rules:\n      - alert: Broken\n        expr: sum by (service (x_total)\n');
      await expect(promisify(execFile)(binary, [broken])).rejects.toMatchObject({ code: 1, stdout: expect.stringMatching(/"Broken": could not parse expression/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);

  it('passes its unit tests (alerts.test.yml, promtool test rules format: series in, which alerts fire when), which fail when a rule changes', async () => {
    const binary = await ensureGoBinary(ROOT, PROMCHECK);
    const tests = join(ROOT, 'deploy', 'prometheus', 'alerts.test.yml');
    const { stdout } = await promisify(execFile)(binary, ['test', tests]);
    expect(stdout).toContain('SUCCESS');
    const tested = new Set([...readFileSync(tests, 'utf8').matchAll(/alertname: (\w+)/g)].map((match) => match[1]));
    expect([...tested].sort()).toEqual(rules.map((rule) => rule.alert).sort());

    // The same tests on a copy of the rules where ConsumerGroupBehind sums every replica's report of the same lag.
    const dir = join(ROOT, '.local', 'run', `promtest-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const summed = readFileSync(ALERTS, 'utf8').replace(
        'sum by (service, group) (max by (service, group, topic, partition) (kafka_consumer_group_lag))',
        'sum by (service, group) (kafka_consumer_group_lag)',
      );
      expect(summed).not.toEqual(readFileSync(ALERTS, 'utf8'));
      writeFileSync(join(dir, 'alerts.yml'), summed);
      writeFileSync(join(dir, 'alerts.test.yml'), readFileSync(tests));
      await expect(promisify(execFile)(binary, ['test', join(dir, 'alerts.test.yml')])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/alertname: ConsumerGroupBehind, time: 15m[\s\S]*group="enrollment"/),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);

  it('the scrape configuration finds every service of the manifests: their namespace, annotations and port, the token file the README names, these rules', () => {
    const config = load(readFileSync(join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: Array<{
        job_name: string;
        kubernetes_sd_configs: Array<{ role: string; namespaces: { names: string[] } }>;
        authorization: { credentials_file: string };
        relabel_configs: Array<{ source_labels?: string[]; regex?: string; action?: string; target_label?: string }>;
      }>;
    };
    expect(config.rule_files.map((file) => join(ROOT, 'deploy', 'prometheus', file))).toEqual([ALERTS]);
    const [job] = config.scrape_configs;
    const kustomization = load(readFileSync(join(ROOT, 'deploy', 'k8s', 'kustomization.yaml'), 'utf8')) as { namespace: string; resources: string[] };
    expect(job.kubernetes_sd_configs).toEqual([{ role: 'pod', namespaces: { names: [kustomization.namespace] } }]);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`credentials_file: ${job.authorization.credentials_file}`);

    const keep = (label: string) => job.relabel_configs.find((r) => r.action === 'keep' && r.source_labels?.[0] === label)?.regex;
    const annotation = (name: string) => `__meta_kubernetes_pod_annotation_${name.replace(/[./-]/g, '_')}`;
    const sources = job.relabel_configs.flatMap((r) => r.source_labels ?? []);
    const deployments = kustomization.resources
      .filter((file) => file !== 'namespace.yaml')
      .flatMap((file) => loadAll(readFileSync(join(ROOT, 'deploy', 'k8s', file), 'utf8')) as Array<{ kind: string; spec: any }>)
      .filter((doc) => doc?.kind === 'Deployment');
    expect(deployments).toHaveLength(5);
    for (const deployment of deployments) {
      const { annotations } = deployment.spec.template.metadata;
      expect(new RegExp(`^${keep(annotation('prometheus.io/scrape'))}$`).test(annotations['prometheus.io/scrape'])).toBe(true);
      for (const name of Object.keys(annotations)) expect(sources).toContain(annotation(name));
      const ports = deployment.spec.template.spec.containers.flatMap((c: { ports: Array<{ name: string; containerPort: number }> }) => c.ports);
      const scraped = ports.filter((port: { name: string }) => new RegExp(`^${keep('__meta_kubernetes_pod_container_port_name')}$`).test(port.name));
      expect(scraped.map((port: { containerPort: number }) => String(port.containerPort))).toEqual([annotations['prometheus.io/port']]);
    }
  });

  it('every alert is named in the README (Monitoring)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.split('### Monitoring')[1]?.split(/\n#{2,3} /)[0] ?? '';
    expect(rules.map((rule) => rule.alert).filter((alert) => !section.includes(alert))).toEqual([]);
  });
});
