-- The SECURITY DEFINER body behind tessera.erase_client. The exposed schema holds only a
-- SECURITY INVOKER wrapper (functions/tessera.erase_client.sql) that calls this, so no
-- definer body is reachable as an RPC of PostgREST's schema (Supabase Security Advisor
-- lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the wrapper's
-- roles.
--
-- tessera_private.erase_client(client_id, reason): a client's erasure (GDPR Art. 17; seed "Hard-
-- delete on account closure"). Operators only; docs/erasure.md is the reference.
--
-- What goes, by tessera.retention_classes() (on_erasure_invoiced /
-- on_erasure_other):
--   hobby and free   every row of the client in every table: sponsors, keys, batches
--                    and their secrets, cache, savings and their idempotency keys, dead
--                    letters, balance, readings and their share links, workloads, the
--                    client; its audit events become tombstones.
--   invoiced         the accounting rows inside their 7-year window stay (savings,
--                    their keys, balance, readings), with their personal columns
--                    replaced: tags by pseudonyms (the same pseudonym for the same tag in
--                    the savings rows and in the readings' by_feature_tag, so a reading
--                    still re-derives), free-text reasons and emails by 'erased'; the
--                    client and workload rows they reference stay with a placeholder
--                    name; its audit events are stripped of personal data. Everything
--                    else goes now. tessera.retention_run removes the rest when the
--                    window ends (GDPR Art. 17(3)(b): kept to comply with a legal
--                    obligation, the accounting act).
--
-- The audit log stays verifiable. The client's events are listed first (event_id and
-- content_hash); then one erasure event is written (a platform event: client_id NULL,
-- entity client_erasures, entity_id the erasure id) whose `after` commits to exactly
-- that list: its count, first and last event_id, and events_sha256 =
-- SHA-256('tessera.erasure.v1' || for each, in event_id order, int8send(event_id) ||
-- content_hash). Then each listed row is emptied (tombstone: only event_id, occurred_at,
-- txid and content_hash stay) or stripped, with erasure_event_id pointing at that event.
-- content_hash is the original's, so every leaf of the Merkle tree is unchanged;
-- tessera-db audit verify accepts such a row only when a sealed erasure event's
-- commitment covers it, so a row blanked by hand is still caught.
--
-- Everything or nothing: one transaction; the append-only guard, the owner's
-- *_definer_removal policies and the audit trigger recognise the erasure only through
-- the unfinished tessera.client_erasures row this transaction writes first
-- (tessera_private.erasing_client_id). Idempotent: a client erased before returns its
-- delete-log row unchanged (with its certificate, once the CLI attached one).
--
-- SECURITY DEFINER (the tables grant nobody DELETE; the owner's guarded policies admit
-- the erased client's rows only while this runs). EXECUTE for authenticated, and inside
-- only operators: sponsors, anon, the proxy and settlement logins and service_role are
-- refused (42501) -- retention is a job's work, an erasure is a person's decision.
CREATE FUNCTION tessera_private.erase_client(p_client_id uuid, p_reason text)
RETURNS tessera.client_erasures
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    acting_role text := pg_catalog.current_setting('role');
    operator_email text := tessera_private.jwt_email();
    previous tessera.client_erasures;
    erasure tessera.client_erasures;
    client tessera.clients;
    invoiced boolean;
    salt bytea := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
    personal_keys text[];
    erased_counts jsonb := '{}'::jsonb;
    n bigint;
    kept_until_at timestamptz;
    table_kept_until timestamptz;
    events_n bigint;
    first_event bigint;
    last_event bigint;
    events_sha256 bytea;
    erasure_event bigint;
BEGIN
    IF acting_role IS DISTINCT FROM 'authenticated' OR NOT tessera_private.is_operator() THEN
        RAISE EXCEPTION 'erase_client: only an operator may erase a client'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Erasure is a person''s decision: sign in as an operator (tessera-db clients erase --as-operator EMAIL).';
    END IF;
    IF p_client_id IS NULL THEN
        RAISE EXCEPTION 'erase_client: a client id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_reason IS NULL OR p_reason !~ '[^[:space:]]' OR pg_catalog.char_length(p_reason) > 1000 THEN
        RAISE EXCEPTION 'erase_client: a reason (1..1000 characters, not blank) is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT e.* INTO previous FROM tessera.client_erasures AS e WHERE e.client_id = p_client_id;
    IF FOUND THEN
        RETURN previous;  -- erased before: the same delete-log row (and certificate)
    END IF;
    -- Lock the client against concurrent changes (kill switch, workloads, sponsors).
    SELECT c.* INTO client FROM tessera.clients AS c WHERE c.client_id = p_client_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'erase_client: no client %', p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    invoiced := client.plan_tier = 'invoiced';

    PERFORM pg_catalog.set_config('tessera.removal', 'erasure', true);
    INSERT INTO tessera.client_erasures (client_id, plan_tier, reason, initiated_by)
    VALUES (p_client_id, client.plan_tier, p_reason, operator_email)
    RETURNING * INTO erasure;

    -- What goes for every tier.
    DELETE FROM tessera.reading_share_tokens AS t WHERE t.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('reading_share_tokens', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.savings_dead_letters AS d WHERE d.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_dead_letters', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.cache_entries AS e WHERE e.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('cache_entries', pg_catalog.jsonb_build_object('erased', n));
    SELECT pg_catalog.count(*) INTO n FROM tessera.batch_secrets AS s WHERE s.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('batch_secrets', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.batches AS b WHERE b.client_id = p_client_id;  -- cascades to batch_secrets
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('batches', pg_catalog.jsonb_build_object('erased', n));
    -- A rotated key references its successor (replaced_by, ON DELETE RESTRICT, checked
    -- row by row): delete the keys nobody references first, until none is left.
    SELECT pg_catalog.count(*) INTO n FROM tessera.api_keys AS k WHERE k.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('api_keys', pg_catalog.jsonb_build_object('erased', n));
    LOOP
        DELETE FROM tessera.api_keys AS k
         WHERE k.client_id = p_client_id
           AND NOT EXISTS (SELECT 1 FROM tessera.api_keys AS r
                            WHERE r.client_id = k.client_id AND r.replaced_by = k.api_key_id);
        EXIT WHEN NOT FOUND;
    END LOOP;
    SELECT pg_catalog.count(*) INTO n FROM tessera.api_keys AS k WHERE k.client_id = p_client_id;
    IF n > 0 THEN
        RAISE EXCEPTION 'erase_client: % API keys of client % reference each other in a cycle', n, p_client_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM tessera.client_users AS u WHERE u.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('client_users', pg_catalog.jsonb_build_object('erased', n));
    -- Operations (issue 15): samples, anomalies and kill-switch history go for every tier.
    DELETE FROM tessera.canary_scores AS q WHERE q.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('canary_scores', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.anomalies AS q WHERE q.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('anomalies', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.kill_switch_engagements AS q WHERE q.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('kill_switch_engagements', pg_catalog.jsonb_build_object('erased', n));

    IF NOT invoiced THEN
        DELETE FROM tessera.savings_request_keys AS k WHERE k.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_request_keys', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.optimize_savings AS s WHERE s.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('optimize_savings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.monthly_readings AS r WHERE r.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('monthly_readings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.balance_transactions AS t WHERE t.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('balance_transactions', pg_catalog.jsonb_build_object('erased', n));
        SELECT pg_catalog.count(*) INTO n FROM tessera.workload_settings AS w WHERE w.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workload_settings', pg_catalog.jsonb_build_object('erased', n));
        SELECT pg_catalog.count(*) INTO n FROM tessera.worker_config_versions AS w WHERE w.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('worker_config_versions', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.workloads AS w WHERE w.client_id = p_client_id;  -- cascades to workload_settings
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workloads', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.clients AS c WHERE c.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('clients', pg_catalog.jsonb_build_object('erased', n));
    ELSE
        -- Kept for the accounting window, personal columns replaced.
        UPDATE tessera.optimize_savings AS s
           SET feature_tag = CASE WHEN s.feature_tag IS NOT NULL THEN tessera_private.erased_tag(salt, s.feature_tag) END,
               customer_tag = CASE WHEN s.customer_tag IS NOT NULL THEN tessera_private.erased_tag(salt, s.customer_tag) END
         WHERE s.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(s.occurred_at) + interval '7 years' INTO table_kept_until
          FROM tessera.optimize_savings AS s WHERE s.client_id = p_client_id;
        kept_until_at := table_kept_until;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('optimize_savings',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        SELECT pg_catalog.count(*), pg_catalog.max(k.occurred_at) + interval '7 years' INTO n, table_kept_until
          FROM tessera.savings_request_keys AS k WHERE k.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_request_keys',
            pg_catalog.jsonb_build_object('kept', n, 'kept_until', table_kept_until));
        UPDATE tessera.monthly_readings AS r
           SET issued_by = 'erased',
               correction_reason = CASE WHEN r.correction_reason IS NOT NULL THEN 'erased' END,
               by_feature_tag = (SELECT COALESCE(pg_catalog.jsonb_agg(x.tagged ORDER BY x.tag NULLS FIRST), '[]'::jsonb)
                                   FROM (SELECT g.value || pg_catalog.jsonb_build_object('feature_tag', t.tag) AS tagged, t.tag
                                           FROM pg_catalog.jsonb_array_elements(r.by_feature_tag) AS g
                                          CROSS JOIN LATERAL (SELECT CASE WHEN g.value ->> 'feature_tag' IS NOT NULL
                                                                          THEN tessera_private.erased_tag(salt, g.value ->> 'feature_tag')
                                                                     END AS tag) AS t) AS x)
         WHERE r.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(r.issued_at) + interval '7 years' INTO table_kept_until
          FROM tessera.monthly_readings AS r WHERE r.client_id = p_client_id;
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('monthly_readings',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        UPDATE tessera.balance_transactions AS t SET reason = 'erased', actor = 'erased'
         WHERE t.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(t.created_at) + interval '7 years' INTO table_kept_until
          FROM tessera.balance_transactions AS t WHERE t.client_id = p_client_id;
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('balance_transactions',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        UPDATE tessera.workloads AS w SET name = 'erased workload ' || w.workload_id::text
         WHERE w.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workloads', pg_catalog.jsonb_build_object('stripped', n));
        UPDATE tessera.clients AS c SET name = 'erased client ' || c.client_id::text
         WHERE c.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('clients', pg_catalog.jsonb_build_object('stripped', n));
    END IF;

    -- The audit log: list the client's events, commit to the list in one erasure event,
    -- then empty (hobby/free) or strip (invoiced) exactly those rows.
    SELECT pg_catalog.count(*), pg_catalog.min(a.event_id), pg_catalog.max(a.event_id),
           pg_catalog.sha256(pg_catalog.convert_to('tessera.erasure.v1', 'UTF8')
                             || COALESCE(pg_catalog.string_agg(pg_catalog.int8send(a.event_id) || a.content_hash, ''::bytea
                                                               ORDER BY a.event_id), ''::bytea))
      INTO events_n, first_event, last_event, events_sha256
      FROM tessera.audit_events AS a
     WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL;
    SELECT pg_catalog.max(a.occurred_at) + interval '7 years' INTO table_kept_until
      FROM tessera.audit_events AS a WHERE a.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('audit_events',
        CASE WHEN invoiced THEN pg_catalog.jsonb_build_object('stripped', events_n, 'kept_until', table_kept_until)
             ELSE pg_catalog.jsonb_build_object('tombstoned', events_n) END);
    IF invoiced THEN
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
    END IF;

    erasure_event := tessera_private.write_audit_event(
        NULL, 'client_erasures', erasure.erasure_id::text, 'erasure', NULL,
        pg_catalog.jsonb_build_object(
            'erasure_id', erasure.erasure_id,
            'client_id', p_client_id,
            'plan_tier', client.plan_tier,
            'treatment', CASE WHEN invoiced THEN 'strip' ELSE 'tombstone' END,
            'events', events_n,
            'first_event_id', first_event,
            'last_event_id', last_event,
            'events_sha256', pg_catalog.encode(events_sha256, 'hex'),
            'counts', erased_counts),
        p_reason);
    PERFORM pg_catalog.set_config('tessera.erasure_event_id', erasure_event::text, true);

    IF invoiced THEN
        SELECT pg_catalog.array_agg(DISTINCT c.column_name)
          INTO personal_keys
          FROM tessera.retention_classes() AS r
         CROSS JOIN LATERAL pg_catalog.unnest(r.personal_columns) AS c(column_name);
        UPDATE tessera.audit_events AS a
           SET actor_email = NULL, actor_sub = NULL, reason = NULL, source_ip = NULL,
               prompt_fingerprint_v1 = NULL,
               before = a.before - personal_keys,
               after = a.after - personal_keys,
               erasure_event_id = erasure_event
         WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL AND a.event_id < erasure_event;
    ELSE
        UPDATE tessera.audit_events AS a
           SET client_id = NULL, entity = NULL, entity_id = NULL, action = NULL, before = NULL, after = NULL,
               actor_role = NULL, actor_session_role = NULL, actor_email = NULL, actor_sub = NULL,
               actor_job = NULL, request_id = NULL, reason = NULL, source_ip = NULL,
               prompt_fingerprint_v1 = NULL,
               erasure_event_id = erasure_event
         WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL AND a.event_id < erasure_event;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> events_n THEN  -- the commitment must cover exactly the rows changed
        RAISE EXCEPTION 'erase_client: % audit events listed, % changed (a concurrent writer?); nothing was erased', events_n, n
            USING ERRCODE = 'serialization_failure';
    END IF;

    UPDATE tessera.client_erasures AS e
       SET finished_at = pg_catalog.clock_timestamp(),
           counts = erased_counts,
           erasure_event_id = erasure_event,
           kept_until = CASE WHEN invoiced THEN kept_until_at END
     WHERE e.client_id = p_client_id AND e.erasure_id = erasure.erasure_id
    RETURNING * INTO erasure;
    PERFORM pg_catalog.set_config('tessera.removal', '', true);
    PERFORM pg_catalog.set_config('tessera.erasure_verified', '', true);
    PERFORM pg_catalog.set_config('tessera.erasure_event_id', '', true);
    RETURN erasure;
END
$function$;

COMMENT ON FUNCTION tessera_private.erase_client(uuid, text) IS
    'Erase a client (operators only): hobby/free lose every row, invoiced keep their accounting rows stripped of personal data for the legal window; the client''s audit events become tombstones (or stripped) authorised by one erasure event. Idempotent; returns the delete-log row.';

REVOKE ALL ON FUNCTION tessera_private.erase_client(uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.erase_client(uuid, text) TO authenticated;
