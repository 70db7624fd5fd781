import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderAsyncApi } from './asyncapi';

const target = join(__dirname, '..', 'asyncapi.yaml');
writeFileSync(target, renderAsyncApi());
process.stdout.write(`wrote ${target}\n`);
