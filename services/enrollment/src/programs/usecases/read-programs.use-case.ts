import { BatchLoader, modelLoader } from '@lib/messaging';
import { AccessPolicy } from '@lib/access';
import { Caller, DEFAULT_PAGE_SIZE, Keyset, Page, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { FilterQuery, Model } from 'mongoose';
import { ListProgramsQuery } from '../dto/program.dto';
import { Program } from '../program.schema';

/** The order of GET /v1/programs: by name (programs may share one), then id (indexes: program.schema.ts). */
export const CATALOG_ORDER = new Keyset<Program>('programs', ['name', '_id']);

/**
 * The catalog: `list` and `get` for operators and anyone holding a role in their partner (403 for a user holding none;
 * no partner data in it); `find` and `all` for this service's own decisions.
 */
@Injectable()
export class ReadPrograms {
  /** Concurrent reads by id share one query; nothing is cached (a program changed is read as changed). */
  private readonly loader: BatchLoader<string, Program>;

  constructor(
    @InjectModel(Program.name) private readonly programs: Model<Program>,
    private readonly policy: AccessPolicy,
  ) {
    this.loader = modelLoader(this.programs);
  }

  /** A page, in name order (`limit`, `cursor`: PageQuery). */
  async list(caller: Caller, query: ListProgramsQuery): Promise<Page<Program>> {
    await this.mayRead(caller);
    const filter: FilterQuery<Program> = { ...CATALOG_ORDER.after(query.cursor) };
    if (query.state) filter.state = query.state;
    if (query.fiscalYear) filter.fiscalYear = query.fiscalYear;
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    return CATALOG_ORDER.page(await this.programs.find(filter).sort(CATALOG_ORDER.sort).limit(limit + 1).lean<Program[]>(), limit);
  }

  async get(caller: Caller, programId: string): Promise<Program> {
    await this.mayRead(caller);
    const program = await this.loader.load(programId);
    if (!program) throw Problems.notFound(`Program ${programId}`);
    return program;
  }

  /** For other use cases: the program or null. */
  async find(programId: string): Promise<Program | null> {
    return (await this.loader.load(programId)) ?? null;
  }

  /** Every program by id (the catalog is small), for batch work such as the rollover. */
  async all(): Promise<Map<string, Program>> {
    const rows = await this.programs.find({}).lean<Program[]>();
    return new Map(rows.map((p) => [p._id, p]));
  }

  private async mayRead(caller: Caller): Promise<void> {
    if (!caller.operator) await this.policy.reader(caller.principal);
  }
}
