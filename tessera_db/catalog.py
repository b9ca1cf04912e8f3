"""Normalised catalog snapshot of the project's schemas.

Used by the drift test (declared SQL vs ``alembic upgrade head``) and available for
reviewers: ``snapshot(conn)`` returns, per kind, a sorted list of plain tuples covering
relations, columns, constraints, indexes, RLS flags, policies, ACLs, functions (body
hash, definer flag, proconfig, ACL, owner), triggers, comments and default privileges.
OIDs and other build-specific values are left out so two databases compare equal.
"""

from __future__ import annotations

from typing import Any

import psycopg

PROJECT_SCHEMAS = ("tessera", "tessera_private")

_QUERIES: dict[str, str] = {
    "schemas": """
        SELECT n.nspname, pg_get_userbyid(n.nspowner), coalesce(n.nspacl::text, ''),
               coalesce(obj_description(n.oid, 'pg_namespace'), '')
          FROM pg_namespace n WHERE n.nspname = ANY(%(schemas)s)""",
    "relations": """
        SELECT n.nspname, c.relname, c.relkind::text, c.relpersistence::text,
               pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity,
               coalesce(c.relacl::text, ''), coalesce(c.reloptions::text, ''),
               coalesce(obj_description(c.oid, 'pg_class'), ''),
               coalesce(pg_get_partkeydef(c.oid), '')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r','p','v','m','S','f')""",
    "columns": """
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
               a.attnum, coalesce(a.attacl::text, ''),
               coalesce(col_description(c.oid, a.attnum), '')
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = ANY(%(schemas)s) AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relkind IN ('r','p','v','m','f')""",
    "constraints": """
        SELECT n.nspname, c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid),
               coalesce(obj_description(k.oid, 'pg_constraint'), '')
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "indexes": """
        SELECT n.nspname, c.relname, i.relname, pg_get_indexdef(x.indexrelid)
          FROM pg_index x
          JOIN pg_class c ON c.oid = x.indrelid
          JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s)""",
    "policies": """
        SELECT schemaname, tablename, policyname, permissive, roles::text, cmd,
               coalesce(qual, ''), coalesce(with_check, '')
          FROM pg_policies WHERE schemaname = ANY(%(schemas)s)""",
    "functions": """
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_function_result(p.oid), l.lanname, p.prosecdef, p.provolatile::text,
               coalesce(p.proconfig::text, ''), coalesce(p.proacl::text, ''),
               pg_get_userbyid(p.proowner), md5(p.prosrc),
               coalesce(obj_description(p.oid, 'pg_proc'), '')
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
          JOIN pg_language l ON l.oid = p.prolang
         WHERE n.nspname = ANY(%(schemas)s)""",
    "triggers": """
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text
          FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND NOT t.tgisinternal""",
    "types": """
        SELECT n.nspname, t.typname, t.typtype::text, coalesce(t.typacl::text, '')
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('e','d','c')
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)""",
    "extensions": """
        SELECT e.extname, n.nspname, pg_get_userbyid(e.extowner)
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname <> 'plpgsql'""",
    "default_privileges": """
        SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''), d.defaclobjtype::text,
               d.defaclacl::text
          FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
         WHERE pg_get_userbyid(d.defaclrole) = 'tessera_owner'""",
}


def snapshot(
    conn: psycopg.Connection[Any], schemas: tuple[str, ...] = PROJECT_SCHEMAS
) -> dict[str, list[tuple[Any, ...]]]:
    """A normalised, order-independent description of the project's catalog."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    for kind, query in _QUERIES.items():
        rows = conn.execute(query, {"schemas": list(schemas)}).fetchall()
        result[kind] = sorted(tuple(str(v) for v in row) for row in rows)
    return result
