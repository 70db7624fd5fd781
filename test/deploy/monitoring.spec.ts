/**
 * deploy/prometheus/alerts.yml against the code: every expression parses as PromQL (Prometheus' own grammar), names
 * only series the services expose, filters and groups by labels those series have, and its annotations use only
 * labels its result keeps. The README's Monitoring section names every alert.
 */
import { MessagingMetrics } from '@lib/messaging';
import { collectProcessMetrics } from '@lib/platform';
import { parser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode } from '@lezer/common';
import { load } from 'js-yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { register } from 'prom-client';
import { DeliveryMetrics } from '../../services/notification/src/delivery/delivery-metrics';
import { ValidationMetrics } from '../../services/payout-profiles/src/validation/validation-metrics';

const ROOT = join(__dirname, '..', '..');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (load(readFileSync(join(ROOT, 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap(
  (group) => group.rules,
);

/** Every series name the services expose, with its labels (`service` on all: the registry's default label). */
function exposedSeries(): Map<string, Set<string>> {
  collectProcessMetrics('test');
  new MessagingMetrics();
  new DeliveryMetrics();
  new ValidationMetrics();
  const series = new Map<string, Set<string>>();
  for (const metric of register.getMetricsAsArray() as unknown as Array<{ name: string; labelNames?: string[]; constructor: { name: string } }>) {
    const labels = new Set(['service', ...(metric.labelNames ?? [])]);
    if (metric.constructor.name === 'Histogram') {
      series.set(`${metric.name}_bucket`, new Set([...labels, 'le']));
      series.set(`${metric.name}_sum`, labels);
      series.set(`${metric.name}_count`, labels);
    } else series.set(metric.name, labels);
  }
  return series;
}
const SERIES = exposedSeries();

const parse = (expr: string) => parser.parse(expr);
const text = (expr: string, node: SyntaxNode) => expr.slice(node.from, node.to);
const children = (node: SyntaxNode): SyntaxNode[] => {
  const found: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) found.push(child);
  return found;
};
function descendants(node: SyntaxNode, type: string): SyntaxNode[] {
  return children(node).flatMap((child) => (child.type.name === type ? [child] : []).concat(descendants(child, type)));
}
/** The metric name and the label names a vector selector filters on. */
function selector(expr: string, node: SyntaxNode): { metric: string; matched: string[] } {
  const metric = text(expr, node.getChild('Identifier')!);
  return { metric, matched: descendants(node, 'LabelName').map((label) => text(expr, label)) };
}

/**
 * The labels an expression's result keeps (for its annotations' `$labels`): an aggregation `by (...)` keeps those, one
 * without keeps none; a comparison or `and` keeps its left side's; a function its vector argument's
 * (histogram_quantile without `le`); a selector its series' labels. `undefined` for a scalar.
 */
function resultLabels(expr: string, node: SyntaxNode): Set<string> | undefined {
  switch (node.type.name) {
    case 'PromQL':
    case 'ParenExpr':
    case 'MatrixSelector':
    case 'FunctionCallBody':
      return children(node).map((child) => resultLabels(expr, child)).find((labels) => labels !== undefined);
    case 'BinaryExpr':
      return resultLabels(expr, node.firstChild!) ?? resultLabels(expr, node.lastChild!);
    case 'AggregateExpr': {
      const modifier = node.getChild('AggregateModifier');
      if (!modifier) return new Set();
      const grouping = new Set(descendants(modifier, 'LabelName').map((label) => text(expr, label)));
      if (modifier.getChild('By')) return grouping;
      const inner = resultLabels(expr, node.getChild('FunctionCallBody')!) ?? new Set();
      return new Set([...inner].filter((label) => !grouping.has(label)));
    }
    case 'FunctionCall': {
      const name = text(expr, node.getChild('FunctionIdentifier')!);
      if (name === 'time') return undefined;
      const inner = resultLabels(expr, node.getChild('FunctionCallBody')!);
      return name === 'histogram_quantile' && inner ? new Set([...inner].filter((label) => label !== 'le')) : inner;
    }
    case 'VectorSelector':
      return SERIES.get(selector(expr, node).metric) ?? new Set();
    default:
      return undefined;
  }
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

  it.each(rules.map((rule) => [rule.alert, rule] as const))('%s parses as PromQL', (_, rule) => {
    const errors: string[] = [];
    parse(rule.expr).iterate({ enter: (node) => void (node.type.isError && errors.push(`at ${node.from}: ${JSON.stringify(rule.expr.slice(node.from, node.from + 20))}`)) });
    expect(errors).toEqual([]);
  });

  it.each(rules.map((rule) => [rule.alert, rule] as const))('%s selects only series the services expose, by labels they have', (_, rule) => {
    const top = parse(rule.expr).topNode;
    const problems: string[] = [];
    const selectors = descendants(top, 'VectorSelector');
    expect(selectors.length).toBeGreaterThan(0);
    for (const node of selectors) {
      const { metric, matched } = selector(rule.expr, node);
      const labels = SERIES.get(metric);
      if (!labels) problems.push(`no series ${metric}`);
      else for (const label of matched.filter((name) => !labels.has(name))) problems.push(`${metric} has no label ${label}`);
    }
    for (const aggregate of descendants(top, 'AggregateExpr')) {
      const modifier = aggregate.getChild('AggregateModifier');
      if (!modifier) continue;
      const inner = descendants(aggregate.getChild('FunctionCallBody')!, 'VectorSelector').map((node) => selector(rule.expr, node).metric);
      for (const label of descendants(modifier, 'LabelName').map((node) => text(rule.expr, node))) {
        for (const metric of inner) if (!SERIES.get(metric)?.has(label)) problems.push(`grouped by ${label}, which ${metric} does not have`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(rules.map((rule) => [rule.alert, rule] as const))("%s's annotations use only labels its result keeps", (_, rule) => {
    const kept = resultLabels(rule.expr, parse(rule.expr).topNode) ?? new Set<string>();
    const used = Object.values(rule.annotations ?? {}).flatMap((template) => [...template.matchAll(/\$labels\.(\w+)/g)].map((match) => match[1]));
    expect(used.filter((label) => !kept.has(label))).toEqual([]);
  });

  it('a wrong metric, label or grouping is caught (the checks above can fail)', () => {
    const exposes = (expr: string) => descendants(parse(expr).topNode, 'VectorSelector').every((node) => SERIES.has(selector(expr, node).metric));
    expect(exposes('outbox_oldest_unpublished_seconds > 1')).toBe(true);
    expect(exposes('outbox_oldest_unpublishd_seconds > 1')).toBe(false);
    expect(SERIES.get('kafka_consumer_group_lag')).toEqual(new Set(['service', 'group', 'topic', 'partition']));
    expect(resultLabels('sum by (service) (kafka_consumer_group_lag) > 1', parse('sum by (service) (kafka_consumer_group_lag) > 1').topNode)).toEqual(new Set(['service']));
    let errors = 0;
    parse('sum by (service (x').iterate({ enter: (node) => void (node.type.isError && errors++) });
    expect(errors).toBeGreaterThan(0);
  });

  it('every alert is named in the README (Monitoring)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.split('### Monitoring')[1]?.split(/\n#{2,3} /)[0] ?? '';
    expect(rules.map((rule) => rule.alert).filter((alert) => !section.includes(alert))).toEqual([]);
  });
});
