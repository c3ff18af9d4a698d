/// The PostgreSQL store's schema, as numbered migrations applied in order by `gptauth migrate`
/// (and `gptauth init --store postgres://…`). A migration is never edited once released: a change
/// is a new one. Each runs in one transaction under an advisory lock, so two nodes migrating at
/// once apply it once.
///
/// Tables hold the record as `doc` (the same JSON the file store writes, so records read the same
/// everywhere) plus the columns that lookups, expiry and the protected call need. Secrets are
/// stored only as SHA-256 digests, as in the file store (S17). Times are Unix seconds.
public enum PostgresSchema {
    public static let migrations: [(version: Int, sql: String)] = [(1, version1), (2, version2), (3, version3), (4, version4),
                                                                   (5, version5), (6, version6)]

    /// The builder's console: who may open it (`Owner`), its users list, newest first, a page at a
    /// time (`usersPage`), and how each GPT's sign-in pages look (`Branding`).
    static let version6 = """
    CREATE TABLE owners (
        email text PRIMARY KEY,
        doc jsonb NOT NULL
    );
    CREATE INDEX users_newest ON users (client_id, first_seen DESC, id DESC);
    CREATE TABLE brandings (
        client_id text PRIMARY KEY,
        doc jsonb NOT NULL
    );
    """

    /// OAuth clients that registered themselves (RFC 7591; `RegisteredClient`).
    static let version5 = """
    CREATE TABLE registered_clients (
        id text PRIMARY KEY,
        created_at bigint NOT NULL,
        doc jsonb NOT NULL
    );
    """

    /// RFC 8707 (S40): the protected call compares the token's audience key — its client id, and
    /// its resource if it has one (`ResourceIndicator.audienceKey`) — with the location's. Version
    /// 1's `gptauth_admit_call` with that one comparison changed, so the two cannot drift apart.
    static let version4: String = {
        let start = version1.firstRange(of: "CREATE FUNCTION gptauth_admit_call")!.lowerBound
        let old = "IF NOT (a.client_id = ANY (p_audience))"
        precondition(version1.contains(old), "version 1's audience check moved")
        return "CREATE OR REPLACE " + version1[start...].dropFirst("CREATE ".count)
            .replacing(old, with: "IF NOT ((a.client_id || coalesce(' ' || (a.doc ->> 'resource'), '')) = ANY (p_audience))")
    }()

    /// Payments (Stripe): one record per subscription or one-time checkout (`PaymentSubscription`).
    static let version3 = """
    CREATE TABLE payment_subscriptions (
        id text PRIMARY KEY,
        doc jsonb NOT NULL
    );
    """

    /// The audit trail, shared by every node (`PostgresAuditTrail`); `copied_digest` keys events
    /// copied from a node's folder, so a repeated copy adds each once.
    static let version2 = """
    CREATE TABLE audit_events (
        id bigserial PRIMARY KEY,
        day text NOT NULL,
        time bigint NOT NULL,
        event text NOT NULL,
        copied_digest text UNIQUE
    );
    CREATE INDEX audit_events_day ON audit_events (day);
    """

    static let version1 = """
    CREATE TABLE clients (
        id text PRIMARY KEY,
        created_at bigint NOT NULL,
        doc jsonb NOT NULL
    );
    CREATE TABLE pending_authorizations (
        id_digest text PRIMARY KEY,
        expires_at bigint NOT NULL,
        doc jsonb NOT NULL
    );
    CREATE INDEX pending_authorizations_expiry ON pending_authorizations (expires_at);
    CREATE TABLE authorization_codes (
        digest text PRIMARY KEY,
        expires_at bigint NOT NULL,
        doc jsonb NOT NULL
    );
    CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
    CREATE TABLE token_families (
        id text PRIMARY KEY,
        client_id text NOT NULL,
        user_id text NOT NULL,
        expires_at bigint NOT NULL,
        revoked_at bigint,
        doc jsonb NOT NULL
    );
    CREATE INDEX token_families_user ON token_families (client_id, user_id);
    CREATE INDEX token_families_expiry ON token_families (expires_at);
    CREATE TABLE access_tokens (
        digest text PRIMARY KEY,
        family_id text NOT NULL,
        client_id text NOT NULL,
        user_id text NOT NULL,
        email text NOT NULL,
        expires_at bigint NOT NULL,
        doc jsonb NOT NULL
    );
    CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);
    CREATE TABLE refresh_tokens (
        digest text PRIMARY KEY,
        family_id text NOT NULL,
        expires_at bigint NOT NULL,
        doc jsonb NOT NULL
    );
    CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
    CREATE TABLE users (
        client_id text NOT NULL,
        id text NOT NULL,
        email text NOT NULL,
        first_seen bigint NOT NULL,
        blocked boolean NOT NULL,
        plan text,
        doc jsonb NOT NULL,
        PRIMARY KEY (client_id, id)
    );
    CREATE TABLE plan_books (
        client_id text PRIMARY KEY,
        doc jsonb NOT NULL
    );
    CREATE TABLE usage_counters (
        client_id text NOT NULL,
        user_id text NOT NULL,
        email text NOT NULL,
        day text NOT NULL,
        day_count integer NOT NULL,
        month text NOT NULL,
        month_count integer NOT NULL,
        total bigint NOT NULL,
        last_call bigint NOT NULL,
        PRIMARY KEY (client_id, user_id)
    );
    CREATE TABLE usage_days (
        client_id text NOT NULL,
        user_id text NOT NULL,
        day text NOT NULL,
        calls integer NOT NULL,
        PRIMARY KEY (client_id, user_id, day)
    );
    CREATE TABLE event_windows (
        key_digest text PRIMARY KEY,
        start bigint NOT NULL,
        count integer NOT NULL,
        expires_at bigint NOT NULL
    );
    CREATE INDEX event_windows_expiry ON event_windows (expires_at);

    -- CallMetering.count, in SQL: one call against the plan's limits, counted only if admitted.
    -- The day and month roll forward only; history keeps UsageCounter.historyDays (400) days.
    CREATE FUNCTION gptauth_count_call(p_client text, p_user text, p_email text, p_daily integer,
                                       p_monthly integer, p_now bigint,
                                       OUT outcome text, OUT period text, OUT quota integer, OUT resets_at bigint,
                                       OUT day text, OUT day_count integer, OUT month text, OUT month_count integer,
                                       OUT total bigint, OUT last_call bigint)
    LANGUAGE plpgsql AS $$
    #variable_conflict use_column
    DECLARE
        today text := to_char(to_timestamp(p_now) AT TIME ZONE 'UTC', 'YYYY-MM-DD');
        this_month text := substr(today, 1, 7);
        c usage_counters%ROWTYPE;
        have boolean;
        days integer := 0;
        months integer := 0;
    BEGIN
        -- One counter at a time per user, on every node (held to the end of the statement).
        PERFORM pg_advisory_xact_lock(hashtextextended(p_client || '/' || p_user, 0));
        SELECT * INTO c FROM usage_counters u WHERE u.client_id = p_client AND u.user_id = p_user;
        have := FOUND;
        IF have THEN
            days := CASE WHEN today > c.day THEN 0 ELSE c.day_count END;
            months := CASE WHEN this_month > c.month THEN 0 ELSE c.month_count END;
        END IF;
        IF p_daily IS NOT NULL AND days >= p_daily THEN
            outcome := 'over'; period := 'day'; quota := p_daily;
            resets_at := (p_now / 86400 + 1) * 86400;
            RETURN;
        END IF;
        IF p_monthly IS NOT NULL AND months >= p_monthly THEN
            outcome := 'over'; period := 'month'; quota := p_monthly;
            resets_at := extract(epoch FROM date_trunc('month', to_timestamp(p_now) AT TIME ZONE 'UTC') + interval '1 month')::bigint;
            RETURN;
        END IF;
        IF have THEN
            UPDATE usage_counters u SET email = p_email, day = greatest(u.day, today), day_count = days + 1,
                   month = greatest(u.month, this_month), month_count = months + 1, total = u.total + 1, last_call = p_now
             WHERE u.client_id = p_client AND u.user_id = p_user RETURNING * INTO c;
        ELSE
            INSERT INTO usage_counters VALUES (p_client, p_user, p_email, today, 1, this_month, 1, 1, p_now) RETURNING * INTO c;
        END IF;
        INSERT INTO usage_days AS d VALUES (p_client, p_user, c.day, 1)
            ON CONFLICT (client_id, user_id, day) DO UPDATE SET calls = d.calls + 1;
        IF NOT have OR days = 0 THEN
            DELETE FROM usage_days d WHERE d.client_id = p_client AND d.user_id = p_user
               AND d.day <= to_char(to_timestamp(p_now - 400 * 86400) AT TIME ZONE 'UTC', 'YYYY-MM-DD');
        END IF;
        outcome := 'counted';
        day := c.day; day_count := c.day_count; month := c.month; month_count := c.month_count;
        total := c.total; last_call := c.last_call;
    END $$;

    -- AuthStore.admitCall in one statement: the access token active and for this API's GPTs, its
    -- user not blocked, the plan (the user's if the GPT still has it, else the default), counted.
    CREATE FUNCTION gptauth_admit_call(p_digest text, p_audience text[], p_now bigint,
                                       OUT outcome text, OUT access jsonb, OUT plan_name text, OUT daily integer,
                                       OUT period text, OUT quota integer, OUT resets_at bigint,
                                       OUT day text, OUT day_count integer, OUT month text, OUT month_count integer,
                                       OUT total bigint, OUT last_call bigint)
    LANGUAGE plpgsql AS $$
    #variable_conflict use_column
    DECLARE
        a access_tokens%ROWTYPE;
        u_blocked boolean;
        u_plan text;
        book jsonb;
        p jsonb;
        counted record;
    BEGIN
        SELECT t.* INTO a FROM access_tokens t JOIN token_families f ON f.id = t.family_id
         WHERE t.digest = p_digest AND t.expires_at > p_now AND f.revoked_at IS NULL;
        IF NOT FOUND THEN outcome := 'invalid'; RETURN; END IF;
        access := a.doc;
        IF NOT (a.client_id = ANY (p_audience)) THEN outcome := 'audience'; RETURN; END IF;
        SELECT u.blocked, u.plan INTO u_blocked, u_plan FROM users u WHERE u.client_id = a.client_id AND u.id = a.user_id;
        IF u_blocked THEN outcome := 'blocked'; RETURN; END IF;
        SELECT b.doc INTO book FROM plan_books b WHERE b.client_id = a.client_id;
        IF book IS NOT NULL THEN
            SELECT e INTO p FROM jsonb_array_elements(book -> 'plans') e WHERE e ->> 'name' = u_plan LIMIT 1;
            IF p IS NULL THEN
                SELECT e INTO p FROM jsonb_array_elements(book -> 'plans') e WHERE e ->> 'name' = book ->> 'defaultPlan' LIMIT 1;
            END IF;
        END IF;
        plan_name := p ->> 'name';
        daily := (p ->> 'daily')::integer;
        SELECT * INTO counted FROM gptauth_count_call(a.client_id, a.user_id, a.email, daily, (p ->> 'monthly')::integer, p_now);
        outcome := counted.outcome; period := counted.period; quota := counted.quota; resets_at := counted.resets_at;
        day := counted.day; day_count := counted.day_count; month := counted.month; month_count := counted.month_count;
        total := counted.total; last_call := counted.last_call;
    END $$;
    """
}
