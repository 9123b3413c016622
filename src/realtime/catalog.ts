// The tables the publication streams, as a subscription may name them: their columns (with the type names the
// change frames carry), primary keys and whether Row Level Security is on. Read from the catalogs when the
// change source starts streaming, and again whenever a published table's columns change.
import type { Sql } from '../db/client.ts';
import type { TableInfo } from './types.ts';

/** Supabase's publication: what Supabase Realtime streams on a Supabase project, and what `bbb serve` streams. */
export const DEFAULT_PUBLICATION = 'supabase_realtime';

export interface Catalog {
  /** Every published table, keyed 'schema.table'. */
  tables(): Map<string, TableInfo>;
  /** Reads the catalogs again; concurrent calls each see a read that began after they were made. */
  refresh(): Promise<void>;
}

interface TableRow {
  schema_name: string;
  table_name: string;
  rls: boolean;
  columns: { name: string; type: string }[];
  primary_key: string[];
}

export async function loadCatalog(sql: Sql, publication = DEFAULT_PUBLICATION): Promise<Catalog> {
  let current = await read(sql, publication);
  let last: Promise<void> = Promise.resolve();
  return {
    tables: () => current,
    refresh() {
      const next = last.then(async () => {
        current = await read(sql, publication);
      });
      last = next.catch(() => {});
      return next;
    },
  };
}

async function read(sql: Sql, publication: string): Promise<Map<string, TableInfo>> {
  // Generated columns are left out: pgoutput does not send them before PostgreSQL 18 (publish_generated_columns),
  // so no change could carry them. pg_publication_tables.attnames honours a publication's column lists.
  const rows = await sql<TableRow[]>`
    select pt.schemaname::text as schema_name, pt.tablename::text as table_name, c.relrowsecurity as rls,
      coalesce((
        select json_agg(json_build_object('name', a.attname, 'type', t.typname) order by a.attnum)
        from pg_attribute a join pg_type t on t.oid = a.atttypid
        where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
          and a.attname = any(pt.attnames)
      ), '[]') as columns,
      coalesce((
        select array_agg(a.attname::text order by k.ord)
        from pg_index i
        cross join unnest(i.indkey) with ordinality as k(attnum, ord)
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
        where i.indrelid = c.oid and i.indisprimary
      ), '{}') as primary_key
    from pg_publication_tables pt
    join pg_namespace n on n.nspname = pt.schemaname
    join pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
    where pt.pubname = ${publication}
    order by 1, 2`;
  const tables = new Map<string, TableInfo>();
  for (const row of rows) {
    tables.set(`${row.schema_name}.${row.table_name}`, {
      schema: row.schema_name,
      table: row.table_name,
      columns: row.columns,
      primaryKey: row.primary_key,
      rls: row.rls,
    });
  }
  return tables;
}
