import { Inject, Injectable } from '@nestjs/common';
import Handlebars from 'handlebars';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONFIG, ConfigError } from '@lib/platform';
import type { NotificationConfig } from '../config';

/** Every message the service sends; each has `<name>.subject.hbs`, `<name>.html.hbs` and `<name>.text.hbs`. */
export const TemplateNames = [
  'invitation',
  // Many invitation emails to one recipient in one (InvitationDigests), rendered when it is sent.
  'invitation-digest',
  'admin-assignment-requested',
  'enrollment-action-required',
  'enrollment-validating',
  'enrollment-enrolled',
  'enrollment-rejected',
  'enrollment-renewed',
  'enrollment-expired',
  'enrollment-ineligible',
  'enrollment-discontinued',
  'enrollment-renewal-at-risk',
  'profile-action-required',
  'tax-profile-expiring',
] as const;
export type TemplateName = (typeof TemplateNames)[number];

export interface RenderedMessage {
  subject: string;
  html: string;
  text: string;
  /**
   * The text as the inbox shows it: the text part rendered with `inbox` true, which the templates read to leave out
   * what belongs to an email (the greeting, the signature lines saying why it was sent and that it is in the inbox).
   */
  inboxText: string;
}

type Compiled = (context: object) => string;

/**
 * Renders the template files with Handlebars. The HTML part escapes every `{{value}}` (the templates never use
 * `{{{triple-stash}}}` on data), so names, reasons and links from events cannot inject markup. The subject and
 * the text part are not HTML: they are rendered without HTML escaping (an `&` stays `&`), and the subject is
 * folded to one line. Everything is read and parsed at start (Handlebars itself compiles on the first render): a
 * missing file, a syntax error or a partial no file provides stops the service, rather than fail (or send without
 * its layout) every email of that kind.
 */
@Injectable()
export class TemplateRenderer {
  readonly directory: string;
  private readonly templates = new Map<TemplateName, { subject: Compiled; html: Compiled; text: Compiled }>();

  constructor(@Inject(CONFIG) config: Pick<NotificationConfig, 'NOTIFY_TEMPLATES_DIR'>) {
    this.directory = findTemplatesDirectory(config.NOTIFY_TEMPLATES_DIR);
    const html = Handlebars.create();
    const plain = Handlebars.create();
    const partials = join(this.directory, 'partials');
    const sources = new Map<string, string>();
    if (existsSync(partials)) {
      for (const file of readdirSync(partials).filter((f) => f.endsWith('.hbs'))) {
        const source = readFileSync(join(partials, file), 'utf8');
        const partial = file.replace(/\.hbs$/, '');
        sources.set(`partials/${file}`, source);
        html.registerPartial(partial, source);
        plain.registerPartial(partial, source);
      }
    }
    for (const name of TemplateNames) {
      const read = (part: string) => {
        const source = readFileSync(join(this.directory, `${name}.${part}.hbs`), 'utf8');
        sources.set(`${name}.${part}.hbs`, source);
        return source;
      };
      this.templates.set(name, {
        subject: plain.compile(read('subject'), { noEscape: true }),
        html: html.compile(read('html')),
        text: plain.compile(read('text'), { noEscape: true }),
      });
    }
    for (const [file, source] of sources) checkTemplate(html, source, join(this.directory, file));
  }

  render(name: TemplateName, context: object): RenderedMessage {
    const template = this.templates.get(name);
    if (!template) throw new Error(`No template ${name}`);
    const plain = oneLine(context) as object;
    const text = (inbox: boolean) => template.text({ ...plain, inbox }).replace(/\n{3,}/g, '\n\n').trim() + '\n';
    return {
      subject: template.subject(plain).replace(/\s+/g, ' ').trim(),
      html: template.html(context),
      text: text(false),
      inboxText: text(true),
    };
  }
}

/** Parses `source` now (a syntax error throws, naming the file), and checks every partial it names is registered. */
function checkTemplate(env: typeof Handlebars, source: string, path: string): void {
  let ast: hbs.AST.Program;
  try {
    ast = env.parse(source);
  } catch (error) {
    throw new Error(`Email template ${path} does not compile: ${(error as Error).message}`);
  }
  const missing = new Set<string>();
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const { type, name } = node as { type?: string; name?: { original?: unknown } };
    // `@partial-block`: the block a partial is called with, not a file.
    const partial = typeof name?.original === 'string' && !name.original.startsWith('@') ? name.original : undefined;
    if ((type === 'PartialStatement' || type === 'PartialBlockStatement') && partial !== undefined && !env.partials[partial]) {
      missing.add(partial);
    }
    for (const value of Object.values(node)) (Array.isArray(value) ? value.forEach(visit) : visit(value));
  };
  visit(ast);
  if (missing.size) throw new Error(`Email template ${path} uses partial(s) ${[...missing].join(', ')}: no partials/<name>.hbs provides it`);
}

/**
 * The data as the text part and the subject use it: each value on one line. Line breaks and other control characters
 * in a name or a reason (from an event) would otherwise start lines of their own in the text part, which is also the
 * inbox entry, e.g. a "Get Started: <another link>" line that looks like the real one. The layout is the template's.
 */
function oneLine(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  if (Array.isArray(value)) return value.map(oneLine);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, oneLine(item)]));
  }
  return value;
}

/**
 * The templates live in src/templates. The Docker image copies them next to the compiled code
 * (dist/services/notification/src/templates); a plain `tsc` build does not, so the source folder is the fallback.
 * A folder configured (NOTIFY_TEMPLATES_DIR: a team's own templates, mounted) is the only one looked in: one without
 * the templates stops the service rather than send the built-in ones unnoticed (a typo, a mount in the wrong place).
 */
export function findTemplatesDirectory(configured: string): string {
  if (configured) {
    if (!existsSync(join(configured, 'invitation.subject.hbs'))) {
      throw new ConfigError(`Invalid configuration: NOTIFY_TEMPLATES_DIR=${configured} holds no email templates (invitation.subject.hbs not found)`);
    }
    return configured;
  }
  const candidates = [
    resolve(__dirname, '..', 'templates'),
    resolve(__dirname, '..', '..', '..', '..', '..', 'services', 'notification', 'src', 'templates'),
    resolve(process.cwd(), 'services', 'notification', 'src', 'templates'),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, 'invitation.subject.hbs')));
  if (!found) throw new ConfigError(`Invalid configuration: email templates not found; looked in ${candidates.join(', ')} (set NOTIFY_TEMPLATES_DIR)`);
  return found;
}
