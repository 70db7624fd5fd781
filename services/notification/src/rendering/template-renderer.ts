import { Inject, Injectable } from '@nestjs/common';
import Handlebars from 'handlebars';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONFIG } from '@lib/platform';
import type { NotificationConfig } from '../config';

/** Every message the service sends; each has `<name>.subject.hbs`, `<name>.html.hbs` and `<name>.text.hbs`. */
export const TemplateNames = [
  'invitation',
  'admin-assignment-requested',
  'enrollment-action-required',
  'enrollment-validating',
  'enrollment-enrolled',
  'enrollment-rejected',
  'enrollment-renewed',
  'enrollment-expired',
  'enrollment-renewal-at-risk',
  'profile-action-required',
  'tax-profile-expiring',
] as const;
export type TemplateName = (typeof TemplateNames)[number];

export interface RenderedMessage {
  subject: string;
  html: string;
  text: string;
}

type Compiled = (context: object) => string;

/**
 * Renders the template files with Handlebars. The HTML part escapes every `{{value}}` (the templates never use
 * `{{{triple-stash}}}` on data), so names, reasons and links from events cannot inject markup. The subject and
 * the text part are not HTML: they are rendered without HTML escaping (an `&` stays `&`), and the subject is
 * folded to one line. Everything is compiled once at start; a missing file stops the service.
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
    if (existsSync(partials)) {
      for (const file of readdirSync(partials).filter((f) => f.endsWith('.hbs'))) {
        const source = readFileSync(join(partials, file), 'utf8');
        html.registerPartial(file.replace(/\.hbs$/, ''), source);
        plain.registerPartial(file.replace(/\.hbs$/, ''), source);
      }
    }
    for (const name of TemplateNames) {
      const read = (part: string) => readFileSync(join(this.directory, `${name}.${part}.hbs`), 'utf8');
      this.templates.set(name, {
        subject: plain.compile(read('subject'), { noEscape: true }),
        html: html.compile(read('html')),
        text: plain.compile(read('text'), { noEscape: true }),
      });
    }
  }

  render(name: TemplateName, context: object): RenderedMessage {
    const template = this.templates.get(name);
    if (!template) throw new Error(`No template ${name}`);
    const plain = oneLine(context) as object;
    return {
      subject: template.subject(plain).replace(/\s+/g, ' ').trim(),
      html: template.html(context),
      text: template.text(plain).replace(/\n{3,}/g, '\n\n').trim() + '\n',
    };
  }
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
      throw new Error(`NOTIFY_TEMPLATES_DIR=${configured} holds no email templates (invitation.subject.hbs not found)`);
    }
    return configured;
  }
  const candidates = [
    resolve(__dirname, '..', 'templates'),
    resolve(__dirname, '..', '..', '..', '..', '..', 'services', 'notification', 'src', 'templates'),
    resolve(process.cwd(), 'services', 'notification', 'src', 'templates'),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, 'invitation.subject.hbs')));
  if (!found) throw new Error(`Email templates not found; looked in ${candidates.join(', ')} (set NOTIFY_TEMPLATES_DIR)`);
  return found;
}
